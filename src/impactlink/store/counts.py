"""Per-issue counts in SQL: what ``core.impact.count`` does from slices, done by the database.

Record totals (responses, tickets, per segment value) are summed per link key in SQL and
per issue in Python: keys are few, and each (key, issue) has one link, so a record counts
at most once per issue. Customers count once per issue however many keys they have, so
they are grouped per *target* instead of per issue: one target per feature set of the open
issues (issues sharing features share their feature-linked customers) and one per issue
for the records that reference it. The database sums each feature set's customers, leaving
out the few who also reference one of its issues; Python adds those per issue
(``customers``). tests/test_store.py checks these counts against the slices path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from impactlink.core.impact import ImpactSettings, IssueCounts
from impactlink.core.matching import Link, Matcher
from impactlink.core.models import IssueKey
from impactlink.store.aggregate import Ranges, Window
from impactlink.store.customers import (
    CustomerTotals,
    Segment,
    Targets,
    customer_totals,
    segment_pairs,
)
from impactlink.store.records import RESPONSES, TICKETS
from impactlink.store.upserts import tune

Counted = tuple[dict[IssueKey, IssueCounts], list[tuple[str, Link]]]


class _Tally:
    """One issue's record totals."""

    __slots__ = ("features", "n", "n_prev", "o", "references", "s", "s_prev", "segments", "t")

    def __init__(self) -> None:
        self.n = self.s = self.o = self.t = self.n_prev = self.s_prev = 0
        self.segments: dict[Segment, list[int]] = {}
        self.features: set[str] = set()
        self.references: set[str] = set()


def issue_counts(conn: Connection, window: Window, matcher: Matcher, settings: ImpactSettings,
                 *, mean_arr: float | None, multipliers: Mapping[str, float]) -> Counted:
    """Return the counts of every issue with a linked record in the current window."""
    tune(conn, "grouping")
    ranges = Ranges.of(conn, window)
    responses = _response_groups(conn, window, ranges)
    tickets = _ticket_groups(conn, ranges)
    current = {k for k, _, prev, *_ in responses if not prev} | {k for k, _, _ in tickets}
    before = {k for k, _, prev, *_ in responses if prev}
    links = [(k, link) for k in sorted(current | before) for link in matcher.links(k)]
    tallies = _tally(responses, tickets, current, matcher)
    texts = [g for _, g, *_ in responses] + [g for _, g, _ in tickets]
    totals = customer_totals(conn, ranges, Targets(matcher, current), texts, settings, mean_arr,
                             multipliers)
    return {IssueKey(issue): _counts(t, totals.get(issue)) for issue, t in tallies.items()}, links


def _counts(t: _Tally, c: CustomerTotals | None) -> IssueCounts:
    c = c or CustomerTotals()
    segments = {pair: (n, s, 0) for pair, (n, s) in t.segments.items()}
    for pair, seen in c.segments.items():
        n, s, _ = segments.get(pair, (0, 0, 0))
        segments[pair] = (n, s, seen)
    return IssueCounts(
        t.n, t.s, t.o, t.t, t.n_prev, t.s_prev, c.observed, c.scaled, c.arr, c.weighted,
        c.explicit, tuple((name, value, *nsc) for (name, value), nsc in segments.items()),
        tuple(sorted(t.features)), tuple(sorted(t.references)))


def _tally(responses: Iterable[Any], tickets: Iterable[Any], current: set[str],
           matcher: Matcher) -> dict[str, _Tally]:
    """Sum the per-key groups per issue; only issues linked in the current window count."""
    tallies: dict[str, _Tally] = {}
    for k in current:
        for link in matcher.links(k):
            t = tallies.get(link.issue)
            if t is None:
                t = tallies[link.issue] = _Tally()
            t.features.update(link.features)
            t.references.update(link.references)
    for k, g, prev, n, s, o in responses:
        pairs = segment_pairs(g)
        for link in matcher.links(k):
            t = tallies.get(link.issue)
            if t is None:
                continue  # only previous-window records: no impact now
            if prev:
                t.n_prev += n
                t.s_prev += s
                continue
            t.n += n
            t.s += s
            t.o += o
            for pair in pairs:
                ns = t.segments.get(pair)
                if ns is None:
                    ns = t.segments[pair] = [0, 0]
                ns[0] += n
                ns[1] += s
    for k, _, n in tickets:
        for link in matcher.links(k):
            tallies[link.issue].t += n
    return tallies


def _response_groups(conn: Connection, window: Window, ranges: Ranges
                     ) -> list[tuple[str, str, int, int, int, int]]:
    """Return (key, segments, previous, n, s, o) for linked responses in both windows."""
    r = RESPONSES
    answered = r.c.status == "answered"
    previous = case((r.c.submitted_at > window.start, 0), else_=1)
    query = (
        select(r.c.link_key, r.c.segments, previous,
               func.sum(case((answered, 1), else_=0)),
               func.sum(case((and_(answered, r.c.satisfied.is_(True)), 1), else_=0)),
               func.sum(case((r.c.status == "offered", 1), else_=0)))
        .where(ranges.both_windows, r.c.link_key != "")
        .group_by(r.c.link_key, r.c.segments, previous)
    )
    return [(k, g, int(prev), int(n), int(s), int(o))
            for k, g, prev, n, s, o in conn.execute(query)]


def _ticket_groups(conn: Connection, ranges: Ranges) -> list[tuple[str, str, int]]:
    """Return (key, segments, tickets) for linked tickets in the current window."""
    t = TICKETS
    query = (select(t.c.link_key, t.c.segments, func.count())
             .where(ranges.tickets, t.c.link_key != "")
             .group_by(t.c.link_key, t.c.segments))
    return [(k, g, int(n)) for k, g, n in conn.execute(query)]

