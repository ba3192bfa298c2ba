"""Per-issue counts from the store: what ``core.impact.compute`` does one record at a time.

Record totals (responses, tickets, per segment value) do not depend on attribution: they
are summed per link key in SQL and per issue here. Customer figures do: the window's
evidence is read once, each feature-linked record gets its attribution (stored text
matches, or BM25 in bulk for the records whose candidates changed), and
impactlink.engine.customers counts customers per issue. tests/test_store.py holds these
counts to the pure model on random data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, case, func, select

from impactlink.core.attribution import Attribution, issue_order
from impactlink.core.impact import (
    CustomerInfo,
    ImpactSettings,
    IssueCounts,
    strongest,
    weight,
)
from impactlink.core.matching import Matcher, parse_link_key
from impactlink.core.models import IssueKey, SuggestedLink
from impactlink.core.text import TOKENIZER_VERSION, split_terms
from impactlink.engine.bm25 import match_many
from impactlink.engine.customers import CustomerTotals, Engine, Evidence
from impactlink.store import evidence as ev_store
from impactlink.store.aggregate import Ranges, Window, segment_pairs
from impactlink.store.records import RESPONSES, TICKETS
from impactlink.store.upserts import tune

Segment = tuple[str, str]


@dataclass
class Counted:
    """Every issue's counts, and what the compute did to get them."""

    counts: dict[IssueKey, IssueCounts]
    evidence: int = 0
    matched: int = 0
    """Records whose text was scored this time (the others reused stored matches)."""


class _Tally:
    """One issue's record totals."""

    __slots__ = ("features", "n", "n_prev", "o", "references", "s", "s_prev", "segments", "t")

    def __init__(self) -> None:
        self.n = self.s = self.o = self.t = self.n_prev = self.s_prev = 0
        self.segments: dict[Segment, list[int]] = {}
        self.features: set[str] = set()
        self.references: set[str] = set()


def issue_counts(conn: Connection, window: Window, matcher: Matcher, settings: ImpactSettings,
                 *, customers: Mapping[str, CustomerInfo], mean_arr: float | None,
                 multipliers: Mapping[str, float], save: bool = True) -> Counted:
    """Return the counts of every issue with a linked record in the current window."""
    tune(conn, "grouping")
    ranges = Ranges.of(conn, window)
    responses = _response_groups(conn, window, ranges)
    tickets = _ticket_groups(conn, ranges)
    current = {k for k, _, prev, *_ in responses if not prev} | {k for k, _, _ in tickets}
    tallies = _tally(responses, tickets, current, matcher)
    rows = ev_store.evidence(conn, ranges)
    attr = _Attributions(matcher, settings)
    attr.resolve(conn, rows, save=save)
    totals, matches = _customer_totals(rows, attr, matcher, settings, customers, mean_arr,
                                       multipliers)
    counts = {IssueKey(issue): _counts(t, totals.get(IssueKey(issue)),
                                       matches.get(IssueKey(issue), ()))
              for issue, t in tallies.items()}
    return Counted(counts, len(rows), attr.scored)


def _counts(t: _Tally, c: CustomerTotals | None, matches: tuple[SuggestedLink, ...]
            ) -> IssueCounts:
    c = c or CustomerTotals()
    segments = {pair: (n, s, 0) for pair, (n, s) in t.segments.items()}
    for pair, seen in c.segments.items():
        n, s, _ = segments.get(pair, (0, 0, 0))
        segments[pair] = (n, s, seen)
    return IssueCounts(
        t.n, t.s, t.o, t.t, t.n_prev, t.s_prev, c.observed, c.scaled, c.named, c.share,
        c.weighted, c.arr, c.linked_arr, c.full,
        tuple((name, value, *nsc) for (name, value), nsc in segments.items()),
        tuple(sorted(t.features)), tuple(sorted(t.references)), matches)


class _Attributions:
    """Each evidence record's attribution, from stored matches or scored in bulk."""

    def __init__(self, matcher: Matcher, settings: ImpactSettings) -> None:
        self.matcher = matcher
        self.settings = settings
        self.text = (settings.text_attribution and settings.feature_attribution == "shared"
                     and settings.text_weight != 0 and settings.text_candidates > 0)
        self.kept: list[tuple[tuple[IssueKey, float], ...]] = []
        self.scored = 0
        self._fingerprints: dict[frozenset[str], str] = {}

    def fingerprint(self, features: frozenset[str]) -> str:
        found = self._fingerprints.get(features)
        if found is None:
            cset = self.matcher.candidate_set(features)
            found = self._fingerprints[features] = (
                f"{cset.fingerprint[:24]}{self.settings.text_candidates:03d}"
                f"v{TOKENIZER_VERSION}")
        return found

    def resolve(self, conn: Connection, rows: list[ev_store.EvidenceRow], *,
                save: bool) -> None:
        """Find every feature-linked row's kept matches; score the rows without valid ones."""
        self.kept = [() for _ in rows]
        if not self.text:
            return
        stale: dict[frozenset[str], list[int]] = {}
        for i, row in enumerate(rows):
            if self.matcher.is_named(row.link_key) or not self.matcher.links(row.link_key):
                continue
            features = parse_link_key(row.link_key)[0]
            if row.candidates == self.fingerprint(features):
                self.kept[i] = ev_store.parse_matches(row.matches)
            else:
                stale.setdefault(features, []).append(i)
        updates: list[tuple[str, int, str, str]] = []
        for features, idx in stale.items():
            cset = self.matcher.candidate_set(features)
            found = match_many(cset, [split_terms(rows[i].terms) for i in idx],
                               self.settings.text_candidates)
            fp = self.fingerprint(features)
            for i, kept in zip(idx, found, strict=True):
                self.kept[i] = tuple((cset.keys[col], s) for col, s in kept)
                updates.append((rows[i].kind, rows[i].row_id, fp,
                                ev_store.format_matches(self.kept[i])))
            self.scored += len(idx)
        if save:
            ev_store.save_matches(conn, updates)

    def of(self, i: int, m: int) -> Attribution:
        return self.settings.attribution(self.kept[i], m)


def _customer_totals(rows: list[ev_store.EvidenceRow], attr: _Attributions, matcher: Matcher,
                     settings: ImpactSettings, customers: Mapping[str, CustomerInfo],
                     mean_arr: float | None, multipliers: Mapping[str, float]
                     ) -> tuple[dict[IssueKey, CustomerTotals],
                                dict[IssueKey, tuple[SuggestedLink, ...]]]:
    """Count customers per issue from the evidence rows and their attributions."""
    issues = sorted(matcher.issues, key=issue_order)
    index = {k: i for i, k in enumerate(issues)}
    group_of: dict[tuple[str, ...], int] = {}
    issue_group = np.array([group_of.setdefault(matcher.issue_features[k], len(group_of))
                            for k in issues], dtype=np.int64)
    feature_sets: dict[frozenset[str], int] = {}
    compatible: list[list[int]] = []
    cust: dict[str, int] = {}
    pair_ids: dict[Segment, int] = {}
    seg_ids: dict[str, int] = {}
    seg_pairs: list[list[int]] = []
    n = len(rows)
    customer = np.empty(n, dtype=np.int64)
    ticket = np.empty(n, dtype=bool)
    mult = np.ones(n)
    segments = np.empty(n, dtype=np.int64)
    feature_set = np.full(n, -1, dtype=np.int64)
    base = np.zeros(n)
    kept_r: list[int] = []
    kept_i: list[int] = []
    kept_a: list[float] = []
    named_r: list[int] = []
    named_i: list[int] = []
    shown: dict[IssueKey, list[SuggestedLink]] = {}
    for i, row in enumerate(rows):
        customer[i] = cust.setdefault(row.customer_key, len(cust))
        ticket[i] = row.kind == "t"
        if ticket[i]:
            mult[i] = multipliers.get(row.source, 1.0)
        sid = seg_ids.get(row.segments)
        if sid is None:
            sid = seg_ids[row.segments] = len(seg_pairs)
            seg_pairs.append([pair_ids.setdefault(p, len(pair_ids))
                              for p in segment_pairs(row.segments)])
        segments[i] = sid
        links = matcher.links(row.link_key)
        if not links:
            feature_set[i] = -2  # linked to no open issue
            continue
        if links[0].explicit:
            for link in links:
                named_r.append(i)
                named_i.append(index[link.issue])
            continue
        features = parse_link_key(row.link_key)[0]
        f = feature_sets.get(features)
        if f is None:
            f = feature_sets[features] = len(compatible)
            wanted = {issue_group[index[k]] for k in matcher.candidates(features)}
            compatible.append(sorted(int(g) for g in wanted))
        feature_set[i] = f
        a = attr.of(i, len(matcher.candidates(features)))
        base[i] = a.base
        for (key, share), (_, s) in zip(a.kept, attr.kept[i], strict=True):
            kept_r.append(i)
            kept_i.append(index[key])
            kept_a.append(share)
            shown.setdefault(key, []).append(
                SuggestedLink(f"{row.source}:{row.external_id}",
                              "ticket" if row.kind == "t" else "csat", share, s, ()))
    linked = feature_set != -2
    keys = list(cust)
    w = np.array([weight(customers.get(k), settings, mean_arr) for k in keys])
    arr = np.array([np.nan if (info := customers.get(k)) is None or info.arr is None
                    else info.arr for k in keys])
    engine = Engine(issues, issue_group, compatible, w, arr, seg_pairs,
                    [p for p, _ in sorted(pair_ids.items(), key=lambda kv: kv[1])])
    evidence = Evidence(customer, ticket & linked, mult, segments,
                        np.where(linked, feature_set, -1), base,
                        np.array(kept_r, dtype=np.int64), np.array(kept_i, dtype=np.int64),
                        np.array(kept_a), np.array(named_r, dtype=np.int64),
                        np.array(named_i, dtype=np.int64))
    totals = engine.totals(evidence)
    return totals, _shown(shown, rows, matcher)


def _shown(shown: Mapping[IssueKey, Iterable[SuggestedLink]], rows: list[ev_store.EvidenceRow],
           matcher: Matcher) -> dict[IssueKey, tuple[SuggestedLink, ...]]:
    """Return each issue's strongest matches with the words they share with its text."""
    terms = {f"{r.source}:{r.external_id}": r.terms for r in rows}
    out: dict[IssueKey, tuple[SuggestedLink, ...]] = {}
    for key, found in shown.items():
        text = set(matcher.texts.get(key, ()))
        out[key] = tuple(
            SuggestedLink(x.record, x.kind, x.attribution, x.score,
                          tuple(sorted(text & set(split_terms(terms[x.record])))))
            for x in strongest(found))
    return out


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
    for k, g, n in tickets:
        for link in matcher.links(k):
            t = tallies[link.issue]
            t.t += n
            for pair in segment_pairs(g):
                t.segments.setdefault(pair, [0, 0])
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
