"""The store leaks no customer data, keeps its files private and serialises its writers.

Each test runs on SQLite and, when IMPACTLINK_TEST_DATABASE_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, Table, event, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from impactlink import logs
from impactlink.config import StoreSettings
from impactlink.store.engine import current_revision, head_revision, open_engine, open_store
from impactlink.store.lock import LEASE, RUNS, LockHeld, acquire, holder_gone, writer_lock
from impactlink.store.records import TICKETS
from impactlink.store.upserts import upsert_values

ROOT = Path(__file__).resolve().parents[1]
PII = ("jane.doe@example.com", "4111 1111 1111 1111", "charged twice, call me on +1 415 555 0142")


def _everything_said(exc: BaseException) -> str:
    """All an operator could see of an error: str, repr and the whole chained traceback."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    """The store with a table whose check constraint refuses the row (PostgreSQL then echoes it)."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE pii_probe (id INTEGER PRIMARY KEY, source TEXT NOT NULL,"
                          " external_id TEXT NOT NULL, comment TEXT NOT NULL, email TEXT,"
                          " CHECK (length(email) < 5))"))
    yield engine


def test_engines_hide_bound_parameters(store_url: str) -> None:
    engine = open_engine(store_url)
    assert engine.hide_parameters
    engine.dispose()


def test_a_failing_insert_shows_source_and_id_but_no_customer_data(probe: Engine) -> None:
    row = {"id": 1, "source": "survey", "external_id": "R-17", "comment": f"{PII[2]} {PII[1]}",
           "email": PII[0]}
    with pytest.raises(SQLAlchemyError) as caught, probe.begin() as conn:
        conn.execute(text("INSERT INTO pii_probe VALUES (:id, :source, :external_id, :comment,"
                          " :email)"), row)

    said = _everything_said(caught.value)
    assert not [p for p in PII if p in said], said
    assert "source 'survey', id 'R-17'" in said and "pii_probe" in said


def test_a_failing_driver_level_upsert_leaks_nothing(engine: Engine) -> None:
    created = (datetime(2026, 1, 1, tzinfo=UTC) if engine.dialect.name == "postgresql"
               else "2026-01-01 00:00:00.000000")
    given = {"source": "tickets", "external_id": "T-9", "customer_id": PII[0],
             "customer_key": None, "created_at": created, "updated_at": None, "subject": PII[2]}
    columns = tuple(c.name for c in TICKETS.columns if c.name != "id")
    row = tuple(given.get(c, "") for c in columns)
    with pytest.raises(SQLAlchemyError) as caught, engine.begin() as conn:
        upsert_values(conn, TICKETS, columns, [row], ["source", "external_id"])

    said = _everything_said(caught.value)
    assert not [p for p in PII if p in said], said
    assert "customer_key" in said and "id 'T-9'" in said


def test_a_store_error_is_logged_without_customer_data(probe: Engine,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    try:
        with probe.begin() as conn:
            conn.execute(insert(_probe_table(probe)), [
                {"id": n, "source": "s", "external_id": f"e{n}", "comment": PII[2],
                 "email": PII[0]} for n in range(3)])
    except SQLAlchemyError:
        logging.getLogger("impactlink.test").exception("cycle failed")
    text_logged = "\n".join(logs.JsonFormatter().format(r) for r in caplog.records)
    assert "cycle failed" in text_logged
    assert not [p for p in PII if p in text_logged], text_logged


def _probe_table(engine: Engine) -> Table:
    return Table("pii_probe", MetaData(), autoload_with=engine)


def test_the_sqlite_file_and_its_wal_are_created_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
        from impactlink.store.engine import upgrade

        upgrade(engine)
        with engine.connect() as conn:  # the WAL and its index exist while a connection lives
            conn.execute(text("SELECT count(*) FROM lease")).scalar_one()
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(previous)
    engine.dispose()
    assert modes == {"store.db": 0o600, "store.db-wal": 0o600, "store.db-shm": 0o600}


def test_a_relative_sqlite_path_is_created_private_in_the_config_folder(tmp_path: Path) -> None:
    engine = open_engine("sqlite:///rel.db", tmp_path)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert stat.S_IMODE((tmp_path / "rel.db").stat().st_mode) == 0o600


_MIGRATE = textwrap.dedent("""
    import sys, time
    from alembic import command
    from impactlink.store.engine import open_engine, upgrade

    applying = command.upgrade

    def slow_upgrade(*args, **kwargs):  # a migration that takes a while, as on a big store
        time.sleep(1.0)
        applying(*args, **kwargs)

    command.upgrade = slow_upgrade
    start = float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    print(upgrade(open_engine(sys.argv[1])), flush=True)
""")


def test_two_first_starts_at_once_migrate_once(store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "migrate.py"
    script.write_text(_MIGRATE)
    start = str(time.time() + 2.0)  # both processes are up and waiting by then
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [subprocess.Popen([sys.executable, str(script), store_url, start], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], results
    assert sorted(out.strip() for out, _ in results) == ["False", "True"], results
    engine = open_engine(store_url)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)
    return child.pid


def _namespace() -> str:
    return str(os.stat("/proc/self/ns/pid").st_ino)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Engine]:
    from impactlink.store.engine import upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _hold(engine: Engine, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(LEASE.insert().values(name="cycle", holder=holder,
                                           expires_at=datetime.now(UTC) + timedelta(hours=1)))
        conn.execute(RUNS.insert().values(started_at=datetime.now(UTC),
                                          as_of=datetime.now(UTC), status="running",
                                          dry_run=False, summary="{}"))


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs Linux /proc")
def test_a_lease_whose_holder_died_is_taken_over_at_once(sqlite_store: Engine) -> None:
    dead = f"{socket.gethostname()}:{_dead_pid()}:abc123:{_namespace()}"
    assert holder_gone(dead)
    _hold(sqlite_store, dead)

    with writer_lock(sqlite_store, holder="successor"), sqlite_store.connect() as conn:
        run = conn.execute(select(RUNS.c.status, RUNS.c.finished_at)).one()
        assert conn.execute(select(LEASE.c.holder)).scalar_one() == "successor"
    assert run.status == "abandoned" and run.finished_at is not None


@pytest.mark.parametrize("holder", [
    f"{socket.gethostname()}:{os.getpid()}:abc123:{{ns}}",  # alive: this very process
    "another-host:1:abc123:{ns}",  # another machine: its PIDs mean nothing here
    f"{socket.gethostname()}:{{pid}}:abc123:1",  # another PID namespace (a container)
    f"{socket.gethostname()}:{{pid}}:abc123",  # an old holder id, without a namespace
])
@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs Linux /proc")
def test_a_lease_is_kept_unless_its_holder_is_provably_gone(sqlite_store: Engine,
                                                            holder: str) -> None:
    holder = holder.format(ns=_namespace(), pid=_dead_pid())
    _hold(sqlite_store, holder)
    with pytest.raises(LockHeld):
        acquire(sqlite_store, holder="successor")
    with sqlite_store.connect() as conn:
        assert conn.execute(select(RUNS.c.status)).scalar_one() == "running"


def test_the_postgresql_cycle_lock_marks_runs_left_running_as_abandoned(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(RUNS.insert().values(started_at=datetime.now(UTC), as_of=datetime.now(UTC),
                                          status="running", dry_run=False, summary="{}"))
    with writer_lock(engine, holder="next"), engine.connect() as conn:
        assert conn.execute(select(RUNS.c.status)).scalar_one() == "abandoned"


def test_a_long_write_transaction_does_not_cost_the_lease(sqlite_store: Engine,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    # Every connection gives up on a busy database after 0.1 s, so only a renewal that
    # waits out the transaction on purpose survives it.
    event.listen(sqlite_store, "connect",
                 lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=100"))
    sqlite_store.dispose()
    with writer_lock(sqlite_store, holder="long", ttl_seconds=30, renew_every=0.2) as held:
        with sqlite_store.connect() as conn:
            first = conn.execute(select(LEASE.c.expires_at)).scalar_one()
        writer = sqlite_store.connect()
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        writer.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('busy', 'yes')")
        time.sleep(1.5)  # far longer than the renewal interval
        writer.rollback()
        writer.close()
        time.sleep(0.6)
        with sqlite_store.connect() as conn:
            later = conn.execute(select(LEASE.c.expires_at)).scalar_one()
        assert not held.lost.is_set()
    assert later > first
    assert not [r for r in caplog.records if "renewing the writer lease failed" in r.message]


def test_store_password_comes_from_a_file_and_is_never_shown(store_url: str,
                                                              tmp_path: Path) -> None:
    if not store_url.startswith("postgresql"):
        with pytest.raises(ValueError, match="PostgreSQL only"):
            StoreSettings(url=store_url, password_file=tmp_path / "pw")
        return
    (tmp_path / "pw").write_text("s3cret-store-pass\n")
    logs.forget_secrets()
    store = StoreSettings(url=store_url, password_file=Path("pw"))
    engine = open_store(store, tmp_path)
    try:
        assert engine.url.password == "s3cret-store-pass"
        assert "s3cret-store-pass" not in str(engine.url) + repr(engine)
        assert logs.redact("pw s3cret-store-pass") == f"pw {logs.MASK}"
        with engine.connect() as conn:  # the server here trusts loopback: it still connects
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        logs.forget_secrets()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_pipeline_and_the_service_open_the_store_with_its_password(
        store_url: str, tmp_path: Path) -> None:
    """run, serve and backfill build their engine from [store], password included."""
    from impactlink.config import load_settings
    from impactlink.pipeline import Pipeline
    from impactlink.scheduler import Service

    (tmp_path / "pw").write_text("s3cret-store-pass\n")
    (tmp_path / "issues.json").write_text("[]")
    (tmp_path / "impactlink.toml").write_text(
        f'[store]\nurl = "{store_url}"\npassword_file = "pw"\n'
        '[tracker]\ntype = "file"\npath = "issues.json"\n')
    settings = load_settings(tmp_path / "impactlink.toml")
    pipeline = Pipeline(settings)
    service = Service(settings)
    try:
        assert pipeline.engine.url.password == "s3cret-store-pass"
        assert service.engine.url.password == "s3cret-store-pass"
    finally:
        pipeline.engine.dispose()
        service.engine.dispose()
        logs.forget_secrets()


def test_a_missing_store_password_variable_is_a_config_error(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from impactlink.errors import ConfigError

    monkeypatch.delenv("IMPACTLINK_NO_SUCH_PW", raising=False)
    store = StoreSettings(url="postgresql+psycopg://impactlink@db.invalid/x",
                          password_env="IMPACTLINK_NO_SUCH_PW")
    with pytest.raises(ConfigError, match="IMPACTLINK_NO_SUCH_PW is not set"):
        open_store(store, tmp_path)


def test_renewals_run_alongside_cycles_in_threads(sqlite_store: Engine) -> None:
    """Renewing never blocks a cycle's own short writes (they share the pool)."""
    with writer_lock(sqlite_store, holder="t", ttl_seconds=30, renew_every=0.05) as held:
        def write(n: int) -> None:
            with sqlite_store.begin() as conn:
                conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, 'v')"),
                             {"k": f"k{n}"})

        threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not held.lost.is_set()
