"""The single-writer lock: one cycle at a time per store, whatever the number of replicas.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held for
the cycle; the server releases it with the session if the holder dies. Other stores (SQLite):
a row in ``lease`` with an expiry, taken atomically when free or expired, renewed by a
heartbeat while the cycle runs and deleted at its end; a crashed holder's lease lapses after
``ttl_seconds``, or is taken over at once when its holder is provably gone (same host and
PID namespace, no such process). A renewal waits out a long write transaction (SQLite has
one writer) for as long as the lease lasts rather than failing with "database is locked".

Whoever takes the cycle lock marks the runs still "running" as "abandoned": their holder
is gone, since no cycle runs without the lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, delete, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from impactlink.errors import ImpactlinkError
from impactlink.store.tables import LeaseRow, RunRow

log = logging.getLogger(__name__)

LEASE: Table = LeaseRow.__table__  # type: ignore[attr-defined]
RUNS: Table = RunRow.__table__  # type: ignore[attr-defined]
CYCLE = "cycle"
ABANDONED = "abandoned"
_PATIENCE = (30.0, 600.0)
"""How long a renewal waits for SQLite's write lock: at least, and at most (seconds)."""


class LockHeld(ImpactlinkError):
    """Another process holds the writer lock of this store; this cycle is skipped."""


def holder_id() -> str:
    """Return who this process is, for the lease row and the logs: host:pid:nonce:pid-ns."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:{_pid_namespace()}"


def _pid_namespace() -> str:
    """Return this process's PID namespace ("" where the system does not say)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def holder_gone(holder: str) -> bool:
    """Tell whether a lease holder is provably dead: our host and PID namespace, no such PID."""
    parts = holder.split(":")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[3]:
        return False
    if parts[0] != socket.gethostname() or parts[3] != _pid_namespace():
        return False  # another machine, or a container whose PIDs we cannot see
    pid = int(parts[1])
    if pid in (0, os.getpid()):
        return False
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, under another user
    return False


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
        self._expires = _now() + timedelta(seconds=ttl)
        self._done = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(renew_every,),
                                           name=f"lease-{name}", daemon=True)
        self._heartbeat.start()

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease is no longer ours."""
        left = (self._expires - _now()).total_seconds()
        with self._engine.connect() as conn:
            restore = _patient(conn, min(max(left, _PATIENCE[0]), _PATIENCE[1]))
            try:
                expires = _now() + timedelta(seconds=self._ttl)
                done = conn.execute(update(LEASE).where(
                    LEASE.c.name == self.name, LEASE.c.holder == self.holder).values(
                    expires_at=expires))
                conn.commit()
            finally:
                restore()
        if done.rowcount == 1:
            self._expires = expires
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


def _patient(conn: Connection, seconds: float) -> Callable[[], None]:
    """Make a SQLite connection wait this long for the write lock; return how to undo it."""
    if conn.dialect.name != "sqlite":
        return lambda: None
    before = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(seconds * 1000)}")
    conn.commit()

    def restore() -> None:
        conn.rollback()
        conn.exec_driver_sql(f"PRAGMA busy_timeout={before}")
        conn.commit()

    return restore


def _now() -> datetime:
    return datetime.now(UTC)


def acquire(engine: Engine, *, name: str = CYCLE, ttl_seconds: float = 3600,
            holder: str | None = None, renew_every: float | None = None) -> WriterLock:
    """Take the writer lock or raise LockHeld saying who has it."""
    holder = holder or holder_id()
    lock: WriterLock
    if engine.dialect.name == "postgresql":
        lock = _take_advisory(engine, name, holder)
    else:
        every = renew_every if renew_every is not None else max(1.0, min(ttl_seconds / 4, 60.0))
        _take_lease(engine, name, holder, ttl_seconds)
        lock = _Lease(name, holder, engine, ttl_seconds, every)
    if name == CYCLE:
        try:
            _abandon_runs(engine)
        except BaseException:
            lock.release()
            raise
    return lock


def _abandon_runs(engine: Engine) -> None:
    """Mark runs still "running" as abandoned: with the lock ours, their process is gone."""
    with engine.begin() as conn:
        done = conn.execute(update(RUNS).where(RUNS.c.status == "running").values(
            status=ABANDONED, finished_at=_now()))
    if done.rowcount:
        log.warning("marked %d run(s) left running by a process that is gone as %s",
                    done.rowcount, ABANDONED)


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
    if current.holder != holder and holder_gone(current.holder):
        dead = current.holder
        # Compare and swap: only the lease the dead process held is taken, never a newer one.
        with engine.begin() as conn:
            conn.execute(update(LEASE).where(LEASE.c.name == name, LEASE.c.holder == dead)
                         .values(holder=holder, expires_at=row["expires_at"]))
            current = conn.execute(select(LEASE).where(LEASE.c.name == name)).one()
        if current.holder == holder:
            log.warning("took over the writer lease of %s: that process is gone", dead)
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
