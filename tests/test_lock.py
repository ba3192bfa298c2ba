"""The single-writer lock: a lease row on SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from impactlink.store import lock
from impactlink.store.engine import open_engine, upgrade
from impactlink.store.lock import LEASE, LockHeld, acquire, describe, writer_lock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    return engine


def test_lock_is_taken_refused_while_held_and_free_after_release(engine: Engine) -> None:
    with writer_lock(engine, holder="replica-a") as held:
        assert held.holder == "replica-a"
        with pytest.raises(LockHeld, match="this cycle is skipped"):
            acquire(engine, holder="replica-b")
        assert describe(engine) != "free"
    assert describe(engine) == "free"
    with writer_lock(engine, holder="replica-b"):
        pass


def test_lease_names_its_holder_to_the_one_refused(sqlite_engine: Engine) -> None:
    with writer_lock(sqlite_engine, holder="host-a:41:abc"), \
            pytest.raises(LockHeld, match="host-a:41:abc"):
        acquire(sqlite_engine, holder="host-b:42:def")


def test_expired_lease_is_taken_over(sqlite_engine: Engine) -> None:
    crashed = acquire(sqlite_engine, holder="crashed", ttl_seconds=60, renew_every=3600)
    with sqlite_engine.begin() as conn:  # the holder died an hour ago: its lease lapsed
        conn.execute(update(LEASE).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    assert describe(sqlite_engine).startswith("free (a lapsed lease of crashed")
    with writer_lock(sqlite_engine, holder="successor") as taken:
        assert "successor" in describe(sqlite_engine)
        crashed.release()  # the late release of the old holder must not free the new lease
        assert "successor" in describe(sqlite_engine)
        assert not taken.lost.is_set()


def test_lease_is_renewed_while_held(sqlite_engine: Engine) -> None:
    with writer_lock(sqlite_engine, holder="a", ttl_seconds=60, renew_every=0.05):
        with sqlite_engine.connect() as conn:
            first = conn.execute(select(LEASE.c.expires_at)).scalar_one()
        time.sleep(0.3)
        with sqlite_engine.connect() as conn:
            later = conn.execute(select(LEASE.c.expires_at)).scalar_one()
        assert later > first


def test_a_lease_taken_over_is_reported_lost(sqlite_engine: Engine) -> None:
    with writer_lock(sqlite_engine, holder="slow", ttl_seconds=60, renew_every=0.05) as held:
        with sqlite_engine.begin() as conn:
            conn.execute(update(LEASE).values(holder="other"))
        assert held.lost.wait(5)


def test_advisory_keys_differ_by_schema_and_name() -> None:
    keys = {lock.advisory_key(s, n) for s in ("public", "t_1") for n in ("cycle", "other")}
    assert len(keys) == 4
    assert all(-(2**63) <= k < 2**63 for k in keys)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_advisory_lock_goes_with_a_crashed_holder(store_url: str, tmp_path: Path) -> None:
    """A holder killed with SIGKILL never releases: its session's end frees the lock."""
    engine = open_engine(store_url)
    upgrade(engine)
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from impactlink.store.engine import open_engine
        from impactlink.store.lock import acquire
        acquire(open_engine({store_url!r}), holder="doomed")
        print("held", flush=True)
        time.sleep(60)
    """))
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match="advisory lock"):
            acquire(engine, holder="survivor")
        assert describe(engine) == "held by a running cycle"
    finally:
        holder.kill()
        holder.wait(10)
    deadline = time.monotonic() + 10
    while True:  # the server notices the dead session within moments
        try:
            with writer_lock(engine, holder="survivor"):
                break
        except LockHeld:
            assert time.monotonic() < deadline, "the lock outlived its holder's session"
            time.sleep(0.1)
    engine.dispose()
