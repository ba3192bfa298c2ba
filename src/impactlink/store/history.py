"""Weekly series for the HTML report: CSAT per feature, complaints per issue, freshness.

Weeks are counted back from the report's as-of time: week 0 is (end − 7 days, end]. The
week of each record is a CASE over those bounds, so the same SQL runs on SQLite and
PostgreSQL, and the grouping happens in the database. Records reach an issue the way the
model links them: by a feature of the issue or by an explicit reference to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, literal, select, union_all

from impactlink.core.matching import parse_link_key
from impactlink.store.tables import CursorRow, ImpactRow, ResponseRow, TicketRow

RESPONSES: Table = ResponseRow.__table__  # type: ignore[attr-defined]
TICKETS: Table = TicketRow.__table__  # type: ignore[attr-defined]
CURSORS: Table = CursorRow.__table__  # type: ignore[attr-defined]
IMPACTS: Table = ImpactRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Weeks:
    """The weeks back from ``end`` that cover ``days`` days (the last one may be partial)."""

    end: datetime
    days: int

    @property
    def count(self) -> int:
        return math.ceil(self.days / 7)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    def bounds(self, index: int) -> tuple[datetime, datetime]:
        """Return (start, end] of week ``index`` (0 is the newest)."""
        return self.end - timedelta(days=7 * (index + 1)), self.end - timedelta(days=7 * index)

    def case(self, column: Any) -> Any:
        """Return the SQL expression of a time's week index."""
        whens = [(column > _utc(self.bounds(i)[0]), i) for i in range(self.count - 1)]
        return case(*whens, else_=self.count - 1) if whens else literal(0)

    def in_range(self, column: Any) -> Any:
        return and_(column > _utc(self.start), column <= _utc(self.end))


@dataclass(frozen=True, slots=True)
class FeatureWeeks:
    """Answered responses of one feature per week over both windows, and each window's total."""

    feature: str
    responses: tuple[int, ...]
    """Per week, oldest first."""
    satisfied: tuple[int, ...]
    current: tuple[int, int]
    """(responses, satisfied) in the window."""
    previous: tuple[int, int]
    """(responses, satisfied) in the previous window."""


def _utc(moment: datetime) -> datetime:
    """Return a time as aware UTC (naive times are UTC), as the store's columns bind them."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stored_as_of(conn: Connection) -> datetime | None:
    """Return the as-of time of the stored impact (None before the first compute)."""
    value = conn.execute(select(func.max(IMPACTS.c.as_of))).scalar()
    return _utc(value) if isinstance(value, datetime) else None


def freshness(conn: Connection, sources: Iterable[str]) -> list[tuple[str, datetime | None]]:
    """Return each source with the last time its cursor moved (None: never)."""
    stored = {s: _utc(t) for s, t in conn.execute(select(CURSORS.c.source, CURSORS.c.updated_at))}
    names = list(dict.fromkeys([*sources, *sorted(stored)]))
    return [(name, stored.get(name)) for name in names]


def customers_in_window(conn: Connection, end: datetime, days: int) -> int:
    """Return the distinct customers with a response or ticket in the window."""
    weeks = Weeks(end, days)
    keys = union_all(
        select(RESPONSES.c.customer_key).where(weeks.in_range(RESPONSES.c.submitted_at)),
        select(TICKETS.c.customer_key).where(weeks.in_range(TICKETS.c.created_at)),
    ).subquery()
    query = select(func.count(func.distinct(keys.c.customer_key)))
    return int(conn.execute(query).scalar_one())


def feature_weeks(conn: Connection, end: datetime, days: int,
                  features: Sequence[str]) -> list[FeatureWeeks]:
    """Return the weekly answered and satisfied responses of each feature, both windows."""
    r, weeks = RESPONSES, Weeks(end, 2 * days)
    window_start = _utc(end - timedelta(days=days))
    inner = (select(r.c.link_key.label("key"), weeks.case(r.c.submitted_at).label("week"),
                    case((r.c.submitted_at > window_start, 0), else_=1).label("prev"),
                    case((r.c.satisfied.is_(True), 1), else_=0).label("sat"))
             .where(weeks.in_range(r.c.submitted_at), r.c.status == "answered",
                    r.c.link_key != "").subquery())
    query = (select(inner.c.key, inner.c.week, inner.c.prev, func.count().label("n"),
                    func.sum(inner.c.sat).label("s"))
             .group_by(inner.c.key, inner.c.week, inner.c.prev))
    wanted = set(features)
    n = {f: [0] * weeks.count for f in features}
    s = {f: [0] * weeks.count for f in features}
    totals = {(f, p): [0, 0] for f in features for p in (0, 1)}
    for row in conn.execute(query):
        for feature in parse_link_key(row.key)[0] & wanted:
            n[feature][row.week] += int(row.n)
            s[feature][row.week] += int(row.s or 0)
            totals[(feature, row.prev)][0] += int(row.n)
            totals[(feature, row.prev)][1] += int(row.s or 0)
    return [FeatureWeeks(f, tuple(reversed(n[f])), tuple(reversed(s[f])),
                         (totals[(f, 0)][0], totals[(f, 0)][1]),
                         (totals[(f, 1)][0], totals[(f, 1)][1])) for f in features]


def _keys_for(conn: Connection, weeks: Weeks) -> list[str]:
    t, r = TICKETS, RESPONSES
    query = union_all(
        select(t.c.link_key).where(weeks.in_range(t.c.created_at), t.c.link_key != ""),
        select(r.c.link_key).where(weeks.in_range(r.c.submitted_at), r.c.link_key != "",
                                   r.c.satisfied.is_(False)),
    ).subquery()
    return [k for (k,) in conn.execute(select(query.c.link_key).distinct())]


def complaint_weeks(conn: Connection, end: datetime, days: int,
                    issues: Mapping[str, tuple[Iterable[str], Iterable[str]]]
                    ) -> dict[str, tuple[int, ...]]:
    """Return per issue the distinct customers with a linked complaint per week, oldest first.

    A complaint is a ticket or a dissatisfied answer; ``issues`` maps an issue to the
    (features, references) it is linked by.
    """
    t, r, weeks = TICKETS, RESPONSES, Weeks(end, days)
    keys = [(k, *parse_link_key(k)) for k in _keys_for(conn, weeks)]
    found: dict[str, tuple[int, ...]] = {}
    for issue, (features, references) in issues.items():
        wanted_f = set(features)
        wanted_r = {ref.casefold() for ref in references}
        linked = [k for k, fs, rs in keys
                  if fs & wanted_f or {ref.casefold() for ref in rs} & wanted_r]
        counts = [0] * weeks.count
        if linked:
            records = union_all(
                select(weeks.case(t.c.created_at).label("week"), t.c.customer_key)
                .where(weeks.in_range(t.c.created_at), t.c.link_key.in_(linked)),
                select(weeks.case(r.c.submitted_at).label("week"), r.c.customer_key)
                .where(weeks.in_range(r.c.submitted_at), r.c.link_key.in_(linked),
                       r.c.satisfied.is_(False)),
            ).subquery()
            query = (select(records.c.week, func.count(func.distinct(records.c.customer_key)))
                     .group_by(records.c.week))
            for week, customers in conn.execute(query):
                counts[int(week)] = int(customers)
        found[issue] = tuple(reversed(counts))
    return found
