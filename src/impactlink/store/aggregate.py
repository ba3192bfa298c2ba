"""The SQL that reduces records to slices: the heavy work runs in the database.

Each query groups linked records by link key, customer, segment values and window, so
what reaches Python grows with customers and link keys, not with records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, union
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from impactlink.core.impact import CustomerInfo, LinkedRecord, Population
from impactlink.store.records import CUSTOMERS, RESPONSES, TICKETS
from impactlink.store.upserts import tune


@dataclass(frozen=True, slots=True)
class Window:
    """The current window (start, end] and the previous one (previous_start, start]."""

    end: datetime
    days: int

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def previous_start(self) -> datetime:
        return self.end - timedelta(days=2 * self.days)


_WHOLE_TABLE_SHARE = 0.2


def between(conn: Connection, column: Any, start: datetime, end: datetime) -> Any:
    """Return ``start < column <= end``, written for the cheaper way to read that range.

    NOTE: SQLite plans a range on an indexed column as narrow whatever its width; reading
    most of a table through the index jumps between its pages, several times slower than
    reading the table in order. A unary + keeps the index out of such a plan
    (https://sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_).
    """
    if conn.dialect.name == "sqlite":
        table = column.table
        rows = conn.execute(select(func.max(table.c.id))).scalar() or 0
        inside = conn.execute(select(func.count()).select_from(table)
                              .where(column > start, column <= end)).scalar_one()
        if inside > rows * _WHOLE_TABLE_SHARE:
            column = UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)
    return and_(column > start, column <= end)


@dataclass(frozen=True, slots=True)
class Ranges:
    """The window's terms on each table: responses now and in both windows, tickets now."""

    responses: Any
    both_windows: Any
    tickets: Any

    @classmethod
    def of(cls, conn: Connection, window: Window) -> Ranges:
        at, created = RESPONSES.c.submitted_at, TICKETS.c.created_at
        return cls(between(conn, at, window.start, window.end),
                   between(conn, at, window.previous_start, window.end),
                   between(conn, created, window.start, window.end))


def _effective_key() -> Any:
    """A response's key: its own merged with the ticket it rates (kept so at write time)."""
    return RESPONSES.c.link_key


def _segments(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in json.loads(text).items()))


_SEGMENT_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {}


def segment_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Return the (name, value) pairs of a stored segments text (cached: few combinations)."""
    pairs = _SEGMENT_PAIRS.get(text)
    if pairs is None:
        pairs = tuple((str(k), str(v)) for k, v in json.loads(text).items())
        if len(_SEGMENT_PAIRS) < 100_000:
            _SEGMENT_PAIRS[text] = pairs
    return pairs


def model_records(conn: Connection, window: Window,
                  multipliers: Mapping[str, float]) -> Iterator[LinkedRecord]:
    """Yield every linked record of both windows as the pure model takes it (tests, oracle)."""
    r, t = RESPONSES, TICKETS
    query = (select(r.c.source, r.c.external_id, r.c.customer_key, r.c.link_key,
                    r.c.submitted_at, r.c.status, r.c.satisfied, r.c.terms, r.c.segments)
             .where(r.c.submitted_at > window.previous_start, r.c.submitted_at <= window.end,
                    r.c.link_key != "").order_by(r.c.id))
    for row in conn.execute(query):
        yield LinkedRecord("csat", f"{row.source}:{row.external_id}", row.customer_key,
                           row.link_key, _naive(row.submitted_at) <= window.start.replace(
                               tzinfo=None), row.status, row.satisfied,
                           tuple(row.terms.split()), _segments(row.segments))
    tickets = (select(t.c.source, t.c.external_id, t.c.customer_key, t.c.link_key,
                      t.c.terms, t.c.segments)
               .where(t.c.created_at > window.start, t.c.created_at <= window.end,
                      t.c.link_key != "").order_by(t.c.id))
    for tk in conn.execute(tickets):
        yield LinkedRecord("ticket", f"{tk.source}:{tk.external_id}", tk.customer_key,
                           tk.link_key, False, "ticket", None, tuple(tk.terms.split()),
                           _segments(tk.segments), multipliers.get(tk.source, 1.0))


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def population(conn: Connection, window: Window, ranges: Ranges | None = None) -> Population:
    """Return the figures over every record in the window, linked or not."""
    tune(conn, "grouping")
    r, t = RESPONSES, TICKETS
    ranges = ranges or Ranges.of(conn, window)
    in_window = ranges.responses
    answered = conn.execute(
        select(func.count(),
               func.sum(case((r.c.satisfied.is_(False), 1), else_=0)))
        .where(in_window, r.c.status == "answered")).one()
    keys = union(
        select(r.c.customer_key).where(in_window),
        select(t.c.customer_key).where(ranges.tickets),
    ).subquery()
    customers = conn.execute(select(func.count()).select_from(keys)).scalar_one()
    per_account = (select(func.max(CUSTOMERS.c.arr).label("arr"))
                   .where(CUSTOMERS.c.arr.is_not(None))
                   .group_by(CUSTOMERS.c.external_id).subquery())
    mean_arr = conn.execute(select(func.avg(per_account.c.arr))).scalar()
    return Population(responses=int(answered[0] or 0), dissatisfied=int(answered[1] or 0),
                      customers=int(customers),
                      mean_arr=float(mean_arr) if mean_arr is not None else None)


def customer_info(conn: Connection) -> dict[str, CustomerInfo]:
    """Return ARR and plan per customer key ("a:" + account id)."""
    query = select(CUSTOMERS.c.external_id, func.max(CUSTOMERS.c.arr),
                   func.max(CUSTOMERS.c.plan)).group_by(CUSTOMERS.c.external_id)
    return {f"a:{eid}": CustomerInfo(float(arr) if arr is not None else None, plan)
            for eid, arr, plan in conn.execute(query)}


def referenced(conn: Connection) -> set[str]:
    """Return every explicit reference stored records carry (for the tracker to fetch)."""
    found: set[str] = set()
    for table in (TICKETS, RESPONSES):
        query = select(table.c.refs).where(table.c.refs != "").distinct()
        for (refs,) in conn.execute(query):
            found.update(filter(None, refs.split("|")))
    return found


def linked_records(conn: Connection, window: Window,
                   link_keys: set[str]) -> list[dict[str, Any]]:
    """Return one issue's linked records in the current window (for --explain; no text)."""
    r, t = RESPONSES, TICKETS
    key = _effective_key()
    responses = conn.execute(
        select(literal("csat").label("kind"), r.c.source, r.c.external_id,
               r.c.submitted_at.label("at"), r.c.status, r.c.score, r.c.satisfied,
               r.c.customer_key, r.c.terms, key.label("link_key"))
        .where(r.c.submitted_at > window.start, r.c.submitted_at <= window.end,
               key.in_(link_keys))).mappings().all()
    tickets = conn.execute(
        select(literal("ticket").label("kind"), t.c.source, t.c.external_id,
               t.c.created_at.label("at"), t.c.status, t.c.customer_key,
               t.c.terms, t.c.link_key)
        .where(t.c.created_at > window.start, t.c.created_at <= window.end,
               t.c.link_key.in_(link_keys))).mappings().all()
    return sorted((dict(m) for m in [*responses, *tickets]), key=lambda m: m["at"])
