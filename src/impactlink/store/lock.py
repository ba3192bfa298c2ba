"""The single-writer lock: one cycle at a time per store, whatever the number of replicas.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held for
the cycle; the server releases it with the session if the holder dies. Other stores (SQLite):
a row in ``lease`` with an expiry, taken atomically when free or expired, renewed by a
heartbeat while the cycle runs and deleted at its end; a crashed holder's lease lapses after
``ttl_seconds``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, delete, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from impactlink.errors import ImpactlinkError
from impactlink.store.tables import LeaseRow

log = logging.getLogger(__name__)

LEASE: Table = LeaseRow.__table__  # type: ignore[attr-defined]
CYCLE = "cycle"


class LockHeld(ImpactlinkError):
    """Another process holds the writer lock of this store; this cycle is skipped."""


def holder_id() -> str:
    """Return who this process is, for the lease row and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def advisory_key(schema: str, name: str) -> int:
    """Return the signed 64-bit advisory-lock key of a lock name in a schema."""
    digest = hashlib.sha256(f"impactlink:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class WriterLock:
    """A held writer lock; ``lost`` turns true if a lease could not be renewed."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        self.lost = threading.Event()

    def release(self) -> None:
        """Give the lock back."""


class _AdvisoryLock(WriterLock):
    def __init__(self, name: str, holder: str, conn: Connection, key: int) -> None:
        super().__init__(name, holder)
        self._conn = conn
        self._key = key

    def release(self) -> None:
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.commit()
            self._conn.close()
        except SQLAlchemyError as exc:
            # A session lock must never return to the pool still held: drop the connection.
            log.warning("releasing the writer lock failed (%s); closing its session", exc)
            self._conn.invalidate()
            self._conn.close()


class _Lease(WriterLock):
    def __init__(self, name: str, holder: str, engine: Engine, ttl: float,
                 renew_every: float) -> None:
        super().__init__(name, holder)
        self._engine = engine
        self._ttl = ttl
        self._done = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(renew_every,),
                                           name=f"lease-{name}", daemon=True)
        self._heartbeat.start()

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease is no longer ours."""
        with self._engine.begin() as conn:
            done = conn.execute(update(LEASE).where(
                LEASE.c.name == self.name, LEASE.c.holder == self.holder).values(
                expires_at=_now() + timedelta(seconds=self._ttl)))
        return done.rowcount == 1

    def _beat(self, every: float) -> None:
        while not self._done.wait(every):
            try:
                renewed = self.renew()
            except SQLAlchemyError as exc:
                log.warning("renewing the writer lease failed: %s", exc)
                continue
            if not renewed:
                log.error("the writer lease %r was taken over; stopping this cycle", self.name)
                self.lost.set()
                return

    def release(self) -> None:
        self._done.set()
        self._heartbeat.join()
        with self._engine.begin() as conn:
            conn.execute(delete(LEASE).where(LEASE.c.name == self.name,
                                             LEASE.c.holder == self.holder))


def _now() -> datetime:
    return datetime.now(UTC)


def acquire(engine: Engine, *, name: str = CYCLE, ttl_seconds: float = 3600,
            holder: str | None = None, renew_every: float | None = None) -> WriterLock:
    """Take the writer lock or raise LockHeld saying who has it."""
    holder = holder or holder_id()
    if engine.dialect.name == "postgresql":
        return _take_advisory(engine, name, holder)
    every = renew_every if renew_every is not None else max(1.0, min(ttl_seconds / 4, 60.0))
    _take_lease(engine, name, holder, ttl_seconds)
    return _Lease(name, holder, engine, ttl_seconds, every)


@contextmanager
def writer_lock(engine: Engine, *, name: str = CYCLE, ttl_seconds: float = 3600,
                holder: str | None = None,
                renew_every: float | None = None) -> Iterator[WriterLock]:
    """Hold the writer lock for the body; raise LockHeld when another process has it."""
    lock = acquire(engine, name=name, ttl_seconds=ttl_seconds, holder=holder,
                   renew_every=renew_every)
    try:
        yield lock
    finally:
        lock.release()


def _take_advisory(engine: Engine, name: str, holder: str) -> WriterLock:
    conn = engine.connect()
    try:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        key = advisory_key(str(schema), name)
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        conn.commit()
    except BaseException:
        conn.close()
        raise
    if not taken:
        conn.close()
        raise LockHeld(f"another impactlink process holds the writer lock of this store "
                       f"(PostgreSQL advisory lock {name!r} in schema {schema}); this cycle "
                       f"is skipped")
    return _AdvisoryLock(name, holder, conn, key)


def _take_lease(engine: Engine, name: str, holder: str, ttl: float) -> None:
    now = _now()
    row = {"name": name, "holder": holder, "expires_at": now + timedelta(seconds=ttl)}
    upsert = sqlite.insert(LEASE).values(row)
    # One statement, so two takers cannot both see the lease free: the row is inserted,
    # or taken over only when expired.
    upsert = upsert.on_conflict_do_update(
        index_elements=[LEASE.c.name],
        set_={"holder": upsert.excluded.holder, "expires_at": upsert.excluded.expires_at},
        where=LEASE.c.expires_at < now)
    with engine.begin() as conn:
        conn.execute(upsert)
        current = conn.execute(select(LEASE).where(LEASE.c.name == name)).one()
    if current.holder != holder:
        raise LockHeld(f"another impactlink process holds the writer lease of this store "
                       f"({current.holder}, until {_utc(current.expires_at):%Y-%m-%d %H:%M:%S} "
                       f"UTC unless renewed); this cycle is skipped")


def describe(engine: Engine, name: str = CYCLE) -> str:
    """Return who holds the writer lock, for ``status``."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
            key = advisory_key(schema, name)
            held = conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :k"),
                {"k": key}).scalar_one()
            return "held by a running cycle" if held else "free"
        row = conn.execute(select(LEASE).where(LEASE.c.name == name)).one_or_none()
    if row is None:
        return "free"
    expires = _utc(row.expires_at)
    if expires < _now():
        return f"free (a lapsed lease of {row.holder})"
    return f"held by {row.holder} until {expires:%Y-%m-%d %H:%M:%S} UTC unless renewed"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
