"""Per-issue counts in SQL: what ``core.impact.count`` does from slices, done by the database.

Records are grouped by link key first (and by customer where customers matter), then
joined to a temporary table of links (link key → issue, share) and summed per issue.
Each record has one link key and each (key, issue) one link, so a record counts at most
once per issue. What reaches Python is one row per issue (per segment value), whatever
the number of records. tests/test_store.py checks these counts against the slices path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    literal,
    select,
    union,
    union_all,
)

from impactlink.core.impact import ImpactSettings, IssueCounts
from impactlink.core.matching import Link, Matcher
from impactlink.core.models import IssueKey
from impactlink.store.aggregate import Window, _effective_key
from impactlink.store.records import CUSTOMERS, RESPONSES, TICKETS

_TEMP = MetaData()
LINKS_NOW = Table("impactlink_links_now", _TEMP,
                  Column("link_key", Text, nullable=False, index=True),
                  Column("issue_key", String(300), nullable=False),
                  Column("share", Float, nullable=False),
                  prefixes=["TEMPORARY"])


def _responses_joined() -> Any:
    return RESPONSES


def _current_responses(window: Window) -> Any:
    return and_(RESPONSES.c.submitted_at > window.start, RESPONSES.c.submitted_at <= window.end)


def _current_tickets(window: Window) -> Any:
    t = TICKETS
    return and_(t.c.created_at > window.start, t.c.created_at <= window.end, t.c.link_key != "")


def present_keys(conn: Connection, window: Window) -> tuple[set[str], set[str]]:
    """Return the link keys with records in the current window, and in the previous one."""
    key = _effective_key()
    previous = case((RESPONSES.c.submitted_at > window.start, 0), else_=1)
    current: set[str] = set()
    before: set[str] = set()
    query = (select(key, previous).select_from(_responses_joined())
             .where(RESPONSES.c.submitted_at > window.previous_start,
                    RESPONSES.c.submitted_at <= window.end, key != "").distinct())
    for k, prev in conn.execute(query):
        (before if prev else current).add(k)
    current.update(k for (k,) in conn.execute(
        select(TICKETS.c.link_key).where(_current_tickets(window)).distinct()))
    return current, before


def _load_links(conn: Connection, links: Iterable[tuple[str, Link]]) -> None:
    LINKS_NOW.create(conn, checkfirst=True)
    conn.execute(delete(LINKS_NOW))
    rows = [{"link_key": k, "issue_key": link.issue, "share": link.share} for k, link in links]
    if rows:
        conn.execute(LINKS_NOW.insert(), rows)


SEGMENTS_NOW = Table("impactlink_segments_now", _TEMP,
                     Column("segments", Text, nullable=False, index=True),
                     Column("name", Text, nullable=False),
                     Column("value", Text, nullable=False),
                     prefixes=["TEMPORARY"])


def _load_segments(conn: Connection) -> None:
    """Spell out each stored segment combination as (name, value) rows for joining."""
    rows = []
    texts: set[str] = set()
    for table in (RESPONSES, TICKETS):
        texts.update(t for (t,) in conn.execute(select(table.c.segments).distinct()))
    for text in sorted(texts):
        rows += [{"segments": text, "name": str(k), "value": str(v)}
                 for k, v in json.loads(text).items()]
    SEGMENTS_NOW.create(conn, checkfirst=True)
    conn.execute(delete(SEGMENTS_NOW))
    if rows:
        conn.execute(SEGMENTS_NOW.insert(), rows)


Counted = tuple[dict[IssueKey, IssueCounts], list[tuple[str, Link]]]


def issue_counts(conn: Connection, window: Window, matcher: Matcher, settings: ImpactSettings,
                 *, mean_arr: float | None, multipliers: Mapping[str, float]) -> Counted:
    """Return the counts of every issue with a linked record in the current window."""
    current, before = present_keys(conn, window)
    links = [(k, link) for k in sorted(current | before) for link in matcher.links(k)]
    _load_links(conn, links)
    features: dict[str, set[str]] = {}
    references: dict[str, set[str]] = {}
    for k, link in links:
        if k in current:
            features.setdefault(link.issue, set()).update(link.features)
            references.setdefault(link.issue, set()).update(link.references)
    responses = _response_totals(conn, window)
    tickets = _ticket_totals(conn, window)
    customers = _customer_totals(conn, window, settings, mean_arr, multipliers)
    _load_segments(conn)
    segments = _segment_totals(conn, window)
    counts = {}
    for issue in features:  # issues with a linked record in the current window
        n, s, o, n_prev, s_prev = responses.get(issue, (0, 0, 0, 0, 0))
        observed, scaled, arr, weighted, explicit = customers.get(issue, (0, 0.0, 0.0, 0.0, 0))
        counts[IssueKey(issue)] = IssueCounts(
            n, s, o, tickets.get(issue, 0), n_prev, s_prev, observed, scaled, arr, weighted,
            explicit, tuple(segments.get(issue, ())),
            tuple(sorted(features[issue])), tuple(sorted(references[issue])))
    return counts, links


def _response_totals(conn: Connection, window: Window) -> dict[str, tuple[int, ...]]:
    r = RESPONSES
    key = _effective_key()
    answered = r.c.status == "answered"
    previous = case((r.c.submitted_at > window.start, 0), else_=1)
    per_key = (
        select(key.label("k"), previous.label("prev"),
               func.sum(case((answered, 1), else_=0)).label("n"),
               func.sum(case((and_(answered, r.c.satisfied.is_(True)), 1), else_=0)).label("s"),
               func.sum(case((r.c.status == "offered", 1), else_=0)).label("o"))
        .select_from(_responses_joined())
        .where(r.c.submitted_at > window.previous_start, r.c.submitted_at <= window.end)
        .group_by(key, previous)
    ).subquery()
    query = (select(LINKS_NOW.c.issue_key, per_key.c.prev, func.sum(per_key.c.n),
                    func.sum(per_key.c.s), func.sum(per_key.c.o))
             .join_from(per_key, LINKS_NOW, LINKS_NOW.c.link_key == per_key.c.k)
             .group_by(LINKS_NOW.c.issue_key, per_key.c.prev))
    totals: dict[str, list[int]] = {}
    for issue, prev, n, s, o in conn.execute(query):
        row = totals.setdefault(issue, [0, 0, 0, 0, 0])
        if prev:
            row[3], row[4] = int(n), int(s)
        else:
            row[0], row[1], row[2] = int(n), int(s), int(o)
    return {k: tuple(v) for k, v in totals.items()}


def _ticket_totals(conn: Connection, window: Window) -> dict[str, int]:
    t = TICKETS
    per_key = (select(t.c.link_key.label("k"), func.count().label("n"))
               .where(_current_tickets(window)).group_by(t.c.link_key)).subquery()
    query = (select(LINKS_NOW.c.issue_key, func.sum(per_key.c.n))
             .join_from(per_key, LINKS_NOW, LINKS_NOW.c.link_key == per_key.c.k)
             .group_by(LINKS_NOW.c.issue_key))
    return {issue: int(n) for issue, n in conn.execute(query)}


def _customer_totals(conn: Connection, window: Window, settings: ImpactSettings,
                     mean_arr: float | None, multipliers: Mapping[str, float]
                     ) -> dict[str, tuple[int, float, float, float, int]]:
    r, t = RESPONSES, TICKETS
    key = _effective_key()
    dissatisfied = and_(r.c.status == "answered", r.c.satisfied.is_(False))
    multiplier = case(*[(t.c.source == name, m) for name, m in multipliers.items() if m != 1.0],
                      else_=1.0) if any(m != 1.0 for m in multipliers.values()) else literal(1.0)
    # Every linked record of a customer counts for its share (an explicit reference in a
    # satisfied answer too); only tickets and dissatisfied answers make it affected.
    records = union_all(
        select(key.label("k"), r.c.customer_key.label("c"),
               func.max(r.c.customer_id).label("account"),
               func.max(case((dissatisfied, 1), else_=0)).label("dis"),
               literal(0).label("tk"), literal(1.0).label("mult"))
        .select_from(_responses_joined())
        .where(_current_responses(window), key != "")
        .group_by(key, r.c.customer_key),
        select(t.c.link_key, t.c.customer_key, func.max(t.c.customer_id), literal(0),
               literal(1), func.max(multiplier))
        .where(_current_tickets(window)).group_by(t.c.link_key, t.c.customer_key),
    ).subquery()
    per_customer = (
        select(LINKS_NOW.c.issue_key.label("issue"), records.c.c,
               func.max(records.c.account).label("account"),
               func.max(records.c.dis).label("dis"), func.max(records.c.tk).label("tk"),
               func.max(case((records.c.tk == 1, records.c.mult), else_=1.0)).label("mult"),
               func.max(LINKS_NOW.c.share).label("share"))
        .join_from(records, LINKS_NOW, LINKS_NOW.c.link_key == records.c.k)
        .group_by(LINKS_NOW.c.issue_key, records.c.c)
    ).subquery()
    accounts = (select(CUSTOMERS.c.external_id.label("id"), func.max(CUSTOMERS.c.arr).label("arr"),
                       func.max(CUSTOMERS.c.plan).label("plan"))
                .group_by(CUSTOMERS.c.external_id)).subquery()
    # The weight of IMPACT_MODEL.md, as core.impact.weight computes it.
    arr_weight: Any = literal(1.0)
    if settings.weight_by == "arr" and mean_arr:
        arr_weight = case((accounts.c.arr.is_not(None), accounts.c.arr / mean_arr), else_=1.0)
    plan_weight: Any = literal(1.0)
    if settings.segment_weights:
        plan_weight = case(*[(accounts.c.plan == plan, w)
                             for plan, w in settings.segment_weights.items()], else_=1.0)
    pc = per_customer.c
    query = (
        select(pc.issue, func.count(),
               func.sum(case((pc.dis == 1, 1.0), else_=pc.mult)),
               func.sum(accounts.c.arr),
               func.sum(arr_weight * plan_weight * pc.share),
               func.sum(case((pc.share == 1.0, 1), else_=0)))
        .select_from(per_customer.outerjoin(accounts, accounts.c.id == pc.account))
        .where((pc.dis == 1) | (pc.tk == 1))
        .group_by(pc.issue)
    )
    return {issue: (int(n), float(scaled), float(arr or 0.0), float(weighted), int(explicit))
            for issue, n, scaled, arr, weighted, explicit in conn.execute(query)}


def _segment_totals(conn: Connection, window: Window
                    ) -> dict[str, list[tuple[str, str, int, int, int]]]:
    r, t, sv = RESPONSES, TICKETS, SEGMENTS_NOW
    key = _effective_key()
    answered = r.c.status == "answered"
    per_key = (
        select(key.label("k"), r.c.segments.label("g"),
               func.sum(case((answered, 1), else_=0)).label("n"),
               func.sum(case((and_(answered, r.c.satisfied.is_(True)), 1), else_=0)).label("s"))
        .select_from(_responses_joined()).where(_current_responses(window))
        .group_by(key, r.c.segments)
    ).subquery()
    sums = (select(LINKS_NOW.c.issue_key, sv.c.name, sv.c.value, func.sum(per_key.c.n),
                   func.sum(per_key.c.s))
            .join_from(per_key, LINKS_NOW, LINKS_NOW.c.link_key == per_key.c.k)
            .join(sv, sv.c.segments == per_key.c.g)
            .group_by(LINKS_NOW.c.issue_key, sv.c.name, sv.c.value))
    dissatisfied = and_(answered, r.c.satisfied.is_(False))
    affected = union(
        select(key.label("k"), r.c.segments.label("g"), r.c.customer_key.label("c"))
        .select_from(_responses_joined()).where(_current_responses(window), dissatisfied),
        select(t.c.link_key, t.c.segments, t.c.customer_key).where(_current_tickets(window)),
    ).subquery()
    customers = (select(LINKS_NOW.c.issue_key, sv.c.name, sv.c.value,
                        func.count(affected.c.c.distinct()))
                 .join_from(affected, LINKS_NOW, LINKS_NOW.c.link_key == affected.c.k)
                 .join(sv, sv.c.segments == affected.c.g)
                 .group_by(LINKS_NOW.c.issue_key, sv.c.name, sv.c.value))
    seen = {(i, name, v): int(n) for i, name, v, n in conn.execute(customers)}
    rows = {(i, name, v): (int(n), int(s)) for i, name, v, n, s in conn.execute(sums)}
    out: dict[str, list[tuple[str, str, int, int, int]]] = {}
    for issue, name, v in rows.keys() | seen.keys():
        n, s = rows.get((issue, name, v), (0, 0))
        out.setdefault(issue, []).append((name, v, n, s, seen.get((issue, name, v), 0)))
    return out
