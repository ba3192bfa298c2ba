"""Upserts past SQLAlchemy's per-row parameter processing, and SQLite's cache for the work.

Ingest writes millions of rows: compiling each statement once and handing the driver
ready tuples makes it several times faster. Values are converted here exactly as the
column types would (``sqlite_time``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

TimeParam = Callable[[datetime], Any]
"""How a time is passed to the driver: SQLite's text (``sqlite_time``), or as it is."""


def insert_for(conn: Connection, table: Table) -> Any:
    """Return an INSERT of the connection's dialect (for ON CONFLICT clauses)."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


_COMPILED: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], tuple[str, list[str]]] = {}


def _compiled_upsert(conn: Connection, table: Table, columns: tuple[str, ...],
                     keys: tuple[str, ...]) -> tuple[str, list[str]]:
    """Return the upsert's SQL for the driver and its parameter order (compiled once)."""
    cache_key = (conn.dialect.name, table.name, columns, keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        stmt = insert_for(conn, table).values({c: bindparam(c) for c in columns})
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: stmt.excluded[c] for c in columns if c not in keys})
        compiled = stmt.compile(dialect=conn.dialect)
        order = list(compiled.positiontup or ())
        found = _COMPILED[cache_key] = (str(compiled), order)
    return found


def _driver_value(value: Any, sqlite_style: bool) -> Any:
    if sqlite_style and isinstance(value, datetime):
        return sqlite_time(value)
    return value


def sqlite_time(value: datetime) -> str:
    """Return the text SQLAlchemy's SQLite DateTime stores: UTC, microseconds always present."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def as_is(value: datetime) -> datetime:
    """Return a time as it is (for drivers that take datetime objects)."""
    return value


def _upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
            keys: list[str]) -> None:
    """Insert or update rows (dicts with the same keys) by their unique key."""
    if not rows:
        return
    columns = tuple(rows[0])
    sqlite_style = conn.dialect.name == "sqlite"
    upsert_values(conn, table, columns,
                   [tuple(_driver_value(r[c], sqlite_style) for c in columns) for r in rows], keys)


def upsert_values(conn: Connection, table: Table, columns: tuple[str, ...],
                   values: Sequence[tuple[Any, ...]], keys: list[str]) -> None:
    """Insert or update rows, given as driver-ready tuples, in one driver-level executemany.

    Going past SQLAlchemy's per-row parameter processing makes ingest several times
    faster; the caller converts values as the column types would (``sqlite_time``).
    """
    if not values:
        return
    sql, order = _compiled_upsert(conn, table, columns, tuple(keys))
    params: Any
    if not order:  # named paramstyle (PostgreSQL)
        # Within one statement a key may appear once (PostgreSQL refuses it twice): last
        # wins. SQLite runs the statement once per row, so a later row updates the earlier.
        key_of = itemgetter(*[columns.index(k) for k in keys])
        unique = dict(zip(map(key_of, values), values, strict=True)).values()
        params = [dict(zip(columns, v, strict=True)) for v in unique]
    elif tuple(order) == columns:  # positional (SQLite), in the columns' order
        params = values
    else:
        params = list(map(itemgetter(*[columns.index(c) for c in order]), values))
    conn.exec_driver_sql(sql, params)


# A 128 MB page cache keeps the indexes' pages in memory while records stream in, and
# rarer checkpoints let a page changed by many batches be copied to the database once.
# Neither weakens a commit: WAL + synchronous=NORMAL (engine.py) stays as it is.
_BULK_PRAGMAS = ("PRAGMA cache_size=-131072", "PRAGMA wal_autocheckpoint=16384")
# SQLite's sorter keeps up to a page cache's worth of rows in memory before it merges
# sorted runs; grouping millions of rows is faster with the default 2 MB than with 128.
_GROUPING_PRAGMAS = ("PRAGMA cache_size=-2000",)


def tune(conn: Connection, work: Literal["bulk", "grouping"]) -> None:
    """Size a SQLite connection's page cache for "bulk" loads or "grouping" (compute)."""
    if conn.dialect.name != "sqlite" or conn.info.get("impactlink_tuned") == work:
        return
    for pragma in _BULK_PRAGMAS if work == "bulk" else _GROUPING_PRAGMAS:
        conn.exec_driver_sql(pragma)
    conn.info["impactlink_tuned"] = work


