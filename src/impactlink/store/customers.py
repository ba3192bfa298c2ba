"""Per-issue customer figures in SQL, counted per target rather than per issue.

A customer counts once per issue whatever number of its records link it, so customer
figures cannot be summed per link key; expanding each (key, customer) to every issue of
its features costs a row per issue and customer. Issues that carry the same features have
the same feature-linked customers, so a *target* is either a feature set of the open issues
or one issue's explicit references. The database counts each feature set's customers once,
leaving out the few who also reference one of its issues (``SHARED``); those are combined
per issue here, from their rows: a customer's flags and share are maxima, so combining
a feature set's row with an issue's row is exactly what linking them to the issue gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from impactlink.core.impact import CustomerInfo, ImpactSettings, weight
from impactlink.core.matching import Matcher
from impactlink.core.models import IssueKey
from impactlink.store.aggregate import Ranges
from impactlink.store.records import CUSTOMERS, RESPONSES, TICKETS

Segment = tuple[str, str]

_TEMP = MetaData()
TARGETS = Table("impactlink_targets_now", _TEMP,
                Column("link_key", Text, nullable=False, index=True),
                Column("target", Integer, nullable=False),
                Column("share", Float, nullable=False),
                prefixes=["TEMPORARY"])
SEGMENTS_NOW = Table("impactlink_segments_now", _TEMP,
                     Column("segments", Text, nullable=False, index=True),
                     Column("name", Text, nullable=False),
                     Column("value", Text, nullable=False),
                     prefixes=["TEMPORARY"])
CUSTOMERS_NOW = Table("impactlink_customers_now", _TEMP,
                      Column("target", Integer, nullable=False),
                      Column("c", Text, nullable=False),
                      Column("account", Text),
                      Column("dis", Integer, nullable=False),
                      Column("tk", Integer, nullable=False),
                      Column("mult", Float, nullable=False),
                      Column("share", Float, nullable=False),
                      prefixes=["TEMPORARY"])
AFFECTED_NOW = Table("impactlink_affected_now", _TEMP,
                     Column("target", Integer, nullable=False),
                     Column("g", Text, nullable=False),
                     Column("c", Text, nullable=False),
                     prefixes=["TEMPORARY"])
SHARED = Table("impactlink_shared_now", _TEMP,
               Column("grp", Integer, nullable=False),
               Column("c", Text, nullable=False),
               Index("ix_impactlink_shared_now", "grp", "c"),
               prefixes=["TEMPORARY"])
"""Customers of a feature set who also reference one of its issues: combined in Python."""


def fill(conn: Connection, table: Table, rows: Iterable[dict[str, Any]] = (),
         query: Any = None) -> None:
    """Create a temporary table on this connection if needed and replace its rows."""
    table.create(conn, checkfirst=True)
    conn.execute(delete(table))
    if query is not None:
        conn.execute(table.insert().from_select([c.name for c in table.columns], query))
    elif rows := list(rows):
        conn.execute(table.insert(), rows)


_SEGMENT_PAIRS: dict[str, tuple[Segment, ...]] = {}


def segment_pairs(text: str) -> tuple[Segment, ...]:
    """Return the (name, value) pairs of a stored segments text (cached: few combinations)."""
    pairs = _SEGMENT_PAIRS.get(text)
    if pairs is None:
        pairs = tuple((str(k), str(v)) for k, v in json.loads(text).items())
        if len(_SEGMENT_PAIRS) < 100_000:
            _SEGMENT_PAIRS[text] = pairs
    return pairs


class Targets:
    """Where each link key's customers count: its feature sets, and the issues it references."""

    def __init__(self, matcher: Matcher, keys: Iterable[str]) -> None:
        sets: dict[tuple[str, ...], int] = {}
        self.group: dict[IssueKey, int] = {
            issue: sets.setdefault(features, len(sets))
            for issue, features in sorted(matcher.issue_features.items())}
        self.groups = len(sets)
        self.explicit: dict[IssueKey, int] = {}
        shares: dict[tuple[str, int], float] = {}
        for k in sorted(keys):
            # The share a feature gives does not depend on the issue within a feature set.
            features = "|".join(p for p in k.split("|") if p.startswith("f:"))
            for link in matcher.links(features) if features else ():
                t = self.group[link.issue]
                shares[(k, t)] = max(shares.get((k, t), 0.0), link.share)
            for link in matcher.links(k):
                if link.references:
                    t = self.explicit.setdefault(link.issue, self.groups + len(self.explicit))
                    shares[(k, t)] = link.share
        self.rows = [{"link_key": k, "target": t, "share": s} for (k, t), s in shares.items()]


@dataclass
class CustomerTotals:
    """One issue's customer figures (see core.impact.count)."""

    observed: int = 0
    scaled: float = 0.0
    arr: float = 0.0
    weighted: float = 0.0
    explicit: int = 0
    segments: dict[Segment, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Seen:
    """One customer's records linked to one target (or to one issue, once combined)."""

    dis: int
    tk: int
    mult: float
    share: float
    arr: float | None
    plan: str | None

    def merge(self, other: _Seen | None) -> _Seen:
        if other is None:
            return self
        return _Seen(max(self.dis, other.dis), max(self.tk, other.tk),
                     max(self.mult, other.mult), max(self.share, other.share),
                     self.arr if self.arr is not None else other.arr, self.plan or other.plan)


def customer_totals(conn: Connection, ranges: Ranges, targets: Targets, texts: Iterable[str],
                    settings: ImpactSettings, mean_arr: float | None,
                    multipliers: Mapping[str, float]) -> dict[str, CustomerTotals]:
    """Return each open issue's customer figures over its linked records in the window."""
    fill(conn, TARGETS, targets.rows)
    fill(conn, SEGMENTS_NOW, [{"segments": text, "name": name, "value": value}
                              for text in sorted(set(texts))
                              for name, value in segment_pairs(text)])
    fill(conn, CUSTOMERS_NOW, query=_customers_query(ranges, multipliers))
    fill(conn, AFFECTED_NOW, query=_affected_query(ranges))
    issue_of = {t: issue for issue, t in targets.explicit.items()}
    seen = _seen_rows(conn, CUSTOMERS_NOW.c.target >= targets.groups)
    shared = {(targets.group[issue_of[t]], c) for t, c in seen}
    fill(conn, SHARED, [{"grp": g, "c": c} for g, c in sorted(shared)])
    seen.update(_seen_rows(conn, _is_shared(CUSTOMERS_NOW)))
    affected = _affected_rows(conn, targets.groups)
    sums = _group_sums(conn, targets.groups, settings, mean_arr)
    segment_sums = _group_segment_sums(conn, targets.groups)
    members: dict[int, set[str]] = {}
    for g, c in shared:
        members.setdefault(g, set()).add(c)
    out: dict[str, CustomerTotals] = {}
    for issue, g in targets.group.items():
        totals = out[issue] = CustomerTotals(*sums.get(g, ()))
        totals.segments = dict(segment_sums.get(g, {}))
        own = targets.explicit.get(issue, -1)
        for c in members.get(g, ()):
            _add(totals, seen.get((g, c)), seen.get((own, c)), settings, mean_arr,
                 affected.get((g, c), set()) | affected.get((own, c), set()))
    return out


def _add(totals: CustomerTotals, by_feature: _Seen | None, by_reference: _Seen | None,
         settings: ImpactSettings, mean_arr: float | None, segments: set[Segment]) -> None:
    """Count one customer of a feature set who may also reference the issue."""
    both = by_feature.merge(by_reference) if by_feature else by_reference
    if both is None or not (both.dis or both.tk):
        return
    totals.observed += 1
    totals.scaled += 1.0 if both.dis else both.mult
    totals.arr += both.arr or 0.0
    totals.weighted += weight(CustomerInfo(both.arr, both.plan), settings, mean_arr) * both.share
    totals.explicit += both.share == 1.0
    for pair in segments:
        totals.segments[pair] = totals.segments.get(pair, 0) + 1


def _accounts() -> Any:
    return (select(CUSTOMERS.c.external_id.label("id"), func.max(CUSTOMERS.c.arr).label("arr"),
                   func.max(CUSTOMERS.c.plan).label("plan"))
            .group_by(CUSTOMERS.c.external_id)).subquery()


def _is_shared(table: Table) -> Any:
    return exists().where(SHARED.c.grp == table.c.target, SHARED.c.c == table.c.c)


def _customers_query(ranges: Ranges, multipliers: Mapping[str, float]) -> Any:
    """Each (target, customer): account, dissatisfied?, ticket?, multiplier, best share."""
    r, t = RESPONSES, TICKETS
    dissatisfied = and_(r.c.status == "answered", r.c.satisfied.is_(False))
    multiplier = case(*[(t.c.source == name, m) for name, m in multipliers.items() if m != 1.0],
                      else_=1.0) if any(m != 1.0 for m in multipliers.values()) else literal(1.0)
    # Every linked record of a customer counts for its share (an explicit reference in a
    # satisfied answer too); only tickets and dissatisfied answers make it affected.
    tg = TARGETS
    records = union_all(
        select(tg.c.target, r.c.customer_key.label("c"), r.c.customer_id.label("account"),
               case((dissatisfied, 1), else_=0).label("dis"), literal(0).label("tk"),
               literal(1.0).label("mult"), tg.c.share)
        .join_from(r, tg, tg.c.link_key == r.c.link_key).where(ranges.responses),
        select(tg.c.target, t.c.customer_key, t.c.customer_id, literal(0), literal(1),
               multiplier, tg.c.share)
        .join_from(t, tg, tg.c.link_key == t.c.link_key).where(ranges.tickets),
    ).subquery()
    return (select(records.c.target, records.c.c, func.max(records.c.account),
                   func.max(records.c.dis), func.max(records.c.tk),
                   func.max(case((records.c.tk == 1, records.c.mult), else_=1.0)),
                   func.max(records.c.share))
            .group_by(records.c.target, records.c.c))


def _affected_query(ranges: Ranges) -> Any:
    """(target, segments, customer) of each ticket and dissatisfied answer."""
    r, t = RESPONSES, TICKETS
    affected = union_all(
        select(r.c.link_key.label("k"), r.c.segments.label("g"), r.c.customer_key.label("c"))
        .where(ranges.responses, r.c.status == "answered", r.c.satisfied.is_(False)),
        select(t.c.link_key, t.c.segments, t.c.customer_key).where(ranges.tickets),
    ).subquery()
    # Not made distinct here: the counts below are, and sorting twice costs more.
    return (select(TARGETS.c.target, affected.c.g, affected.c.c)
            .join_from(affected, TARGETS, TARGETS.c.link_key == affected.c.k))


def _seen_rows(conn: Connection, where: Any) -> dict[tuple[int, str], _Seen]:
    cn, accounts = CUSTOMERS_NOW, _accounts()
    query = (select(cn.c.target, cn.c.c, cn.c.dis, cn.c.tk, cn.c.mult, cn.c.share,
                    accounts.c.arr, accounts.c.plan)
             .select_from(cn.outerjoin(accounts, accounts.c.id == cn.c.account)).where(where))
    return {(t, c): _Seen(int(dis), int(tk), float(mult), float(share),
                          None if arr is None else float(arr), plan)
            for t, c, dis, tk, mult, share, arr, plan in conn.execute(query)}


def _affected_rows(conn: Connection, groups: int) -> dict[tuple[int, str], set[Segment]]:
    an = AFFECTED_NOW
    query = select(an.c.target, an.c.c, an.c.g).where(or_(an.c.target >= groups,
                                                           _is_shared(an)))
    out: dict[tuple[int, str], set[Segment]] = {}
    for t, c, g in conn.execute(query):
        out.setdefault((t, c), set()).update(segment_pairs(g))
    return out


def _group_sums(conn: Connection, groups: int, settings: ImpactSettings,
                mean_arr: float | None) -> dict[int, tuple[int, float, float, float, int]]:
    """Sum each feature set's affected customers, but those in SHARED."""
    cn, accounts = CUSTOMERS_NOW, _accounts()
    # The weight of IMPACT_MODEL.md, as core.impact.weight computes it.
    arr_weight: Any = literal(1.0)
    if settings.weight_by == "arr" and mean_arr:
        arr_weight = case((accounts.c.arr.is_not(None), accounts.c.arr / mean_arr), else_=1.0)
    plan_weight: Any = literal(1.0)
    if settings.segment_weights:
        plan_weight = case(*[(accounts.c.plan == plan, w)
                             for plan, w in settings.segment_weights.items()], else_=1.0)
    query = (
        select(cn.c.target, func.count(),
               func.sum(case((cn.c.dis == 1, 1.0), else_=cn.c.mult)),
               func.sum(accounts.c.arr),
               func.sum(arr_weight * plan_weight * cn.c.share),
               func.sum(case((cn.c.share == 1.0, 1), else_=0)))
        .select_from(cn.outerjoin(accounts, accounts.c.id == cn.c.account))
        .where(cn.c.target < groups, (cn.c.dis == 1) | (cn.c.tk == 1), ~_is_shared(cn))
        .group_by(cn.c.target)
    )
    return {t: (int(n), float(scaled), float(arr or 0.0), float(weighted), int(explicit))
            for t, n, scaled, arr, weighted, explicit in conn.execute(query)}


def _group_segment_sums(conn: Connection, groups: int) -> dict[int, dict[Segment, int]]:
    """Count each feature set's affected customers per segment value, but those in SHARED."""
    an, sv = AFFECTED_NOW, SEGMENTS_NOW
    query = (select(an.c.target, sv.c.name, sv.c.value, func.count(an.c.c.distinct()))
             .join_from(an, sv, sv.c.segments == an.c.g)
             .where(an.c.target < groups, ~_is_shared(an))
             .group_by(an.c.target, sv.c.name, sv.c.value))
    out: dict[int, dict[Segment, int]] = {}
    for t, name, value, n in conn.execute(query):
        out.setdefault(t, {})[(name, value)] = int(n)
    return out
