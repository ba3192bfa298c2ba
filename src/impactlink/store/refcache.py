"""Referenced issues: how many records name each, and which were found closed or missing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, delete, func, select
from sqlmodel import Field, SQLModel

from impactlink.store.records import RESPONSES, TICKETS
from impactlink.store.upserts import _upsert

_CHUNK = 500
"""Keys per IN list: well under SQLite's and PostgreSQL's parameter limits."""


class ReferencedIssueRow(SQLModel, table=True):
    """A referenced issue found closed or missing, and when (read again after a while)."""

    __tablename__ = "referenced_issue"

    tracker: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=300)
    state: str = Field(max_length=20)
    checked_at: datetime


REFERENCED: Table = ReferencedIssueRow.__table__  # type: ignore[attr-defined]


def referenced(conn: Connection) -> Counter[str]:
    """Return each explicit reference stored records carry, with how many carry it."""
    counts: Counter[str] = Counter()
    for table in (TICKETS, RESPONSES):
        query = (select(table.c.refs, func.count()).where(table.c.refs != "")
                 .group_by(table.c.refs))
        for refs, n in conn.execute(query):
            for ref in set(filter(None, str(refs).split("|"))):
                counts[ref] += int(n)
    return counts


class StoreRefCache:
    """The referenced issues of one tracker found closed or missing, kept in the store."""

    def __init__(self, engine: Engine, tracker: str) -> None:
        self._engine = engine
        self._tracker = tracker

    def gone(self, keys: Collection[str], *, since: datetime) -> set[str]:
        """Return the keys found closed or missing at or after ``since``."""
        wanted, out = sorted(set(keys)), set[str]()
        r = REFERENCED
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(r.c.key).where(r.c.tracker == self._tracker,
                                              r.c.key.in_(wanted[start:start + _CHUNK]),
                                              r.c.checked_at >= since)
                out.update(str(k) for (k,) in conn.execute(query))
        return out

    def remember(self, states: Mapping[str, str], *, at: datetime) -> None:
        """Keep the closed and missing keys with the time; forget the open ones."""
        r = REFERENCED
        rows = [{"tracker": self._tracker, "key": key, "state": state, "checked_at": at}
                for key, state in sorted(states.items()) if state != "open"]
        opened = sorted(k for k, state in states.items() if state == "open")
        with self._engine.begin() as conn:
            _upsert(conn, REFERENCED, rows, ["tracker", "key"])
            for start in range(0, len(opened), _CHUNK):
                conn.execute(delete(r).where(r.c.tracker == self._tracker,
                                             r.c.key.in_(opened[start:start + _CHUNK])))
