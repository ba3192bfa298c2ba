"""Open the store and bring its schema up to date with Alembic.

Database errors never carry customer data: engines hide bound parameters, and every
driver error is cut to its first line (PostgreSQL's DETAIL repeats the failing row) with
at most the row's source and external id added, before anything can print or log it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from impactlink.errors import StoreError

if TYPE_CHECKING:
    from impactlink.config import StoreSettings

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = "migrate"
_INSERT_COLUMNS = re.compile(r"(?is)^\s*INSERT\s+INTO\s+\S+\s*\(([^)]*)\)")
_QUOTED_VALUE = re.compile(r':\s*"[^"]*"?\s*$')


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching a new file to WAL waits for a concurrent opener.
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL lets `report` read while a run writes; NORMAL is durable at each commit in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_store(store: StoreSettings, base_dir: Path) -> Engine:
    """Create the engine of ``[store]``, its password read from password_env / password_file."""
    from impactlink.config import read_secret

    wanted = bool(store.password_env or store.password_file)
    secret = read_secret("store", store.password_env, store.password_file, base_dir,
                         required=wanted) if wanted else None
    return open_engine(store.url, base_dir,
                       password=None if secret is None else secret.get_secret_value())


def open_engine(url: str, base_dir: Path | None = None, *,
                password: str | None = None) -> Engine:
    """Create the engine for a store URL; a relative SQLite path is taken from base_dir."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(parsed, base_dir)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)  # URL hides it whenever it is rendered
    engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    event.listen(engine, "handle_error", scrub_error)
    return engine


def _sqlite_engine(parsed: URL, base_dir: Path | None) -> Engine:
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
            parsed = parsed.set(database=str(path))
        _create_private(path)
    engine = create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", scrub_error)
    return engine


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only; SQLite gives -wal/-shm its mode."""
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps the mode its operator chose; a bad folder fails later
    previous = os.umask(0o077)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        pass  # unwritable: SQLite reports it, with the path, when connecting
    finally:
        os.umask(previous)


def scrub_error(context: ExceptionContext) -> None:
    """Cut a driver error to its first line plus the row's source and id; hide parameters."""
    original = context.original_exception
    lines = str(original).strip().splitlines()
    # A value the driver could not convert is quoted at the end of the first line.
    first = _QUOTED_VALUE.sub(": [value hidden]", lines[0]) if lines else type(original).__name__
    compiled = getattr(context.execution_context, "compiled_parameters", None)
    message = first + _row_hint(context.statement, compiled or context.parameters)
    original.args = (message,)  # the chained cause of every traceback prints this too
    wrapped = context.sqlalchemy_exception
    if isinstance(wrapped, DBAPIError):
        orig = type(original)
        wrapped.args = (f"({orig.__module__}.{orig.__name__}) {message}",)
        wrapped.params = None
        wrapped.hide_parameters = True


def _row_hint(statement: str | None, parameters: Any) -> str:
    """Return " (row: source 'x', id 'y')" when the statement wrote one identifiable row."""
    rows = parameters if isinstance(parameters, list) else [parameters]
    if len(rows) != 1:
        return f" (one of {len(rows)} rows)" if rows else ""
    row = rows[0]
    if isinstance(row, Sequence) and not isinstance(row, str) and statement:
        match = _INSERT_COLUMNS.match(statement)
        names = [c.strip().strip('"') for c in match.group(1).split(",")] if match else []
        row = dict(zip(names, row, strict=False))
    if not isinstance(row, Mapping) or "source" not in row or "external_id" not in row:
        return ""
    return f" (row: source {str(row['source'])!r}, id {str(row['external_id'])!r})"


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision the store is at (None when empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """Return the newest schema revision this version knows."""
    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def upgrade(engine: Engine) -> bool:
    """Apply pending migrations under the store's migration lock; return whether any ran.

    Of two processes starting on a new store at once, one migrates; the other waits for
    the lock, then finds the schema at head and does nothing.
    """
    try:
        head = head_revision(engine)
        if current_revision(engine) == head:
            return False
        with engine.connect() as conn:
            _lock_for_migration(conn)
            if MigrationContext.configure(conn).get_current_revision() == head:
                conn.rollback()
                return False
            config = _alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        return True
    except OperationalError as exc:
        raise StoreError(f"cannot open the store at {engine.url.render_as_string()}: "
                         f"{exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the store: {exc}") from None


def _lock_for_migration(conn: Connection) -> None:
    """Take the store's migration lock for the transaction conn is about to run."""
    if conn.dialect.name == "postgresql":
        from impactlink.store.lock import advisory_key

        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        # Released with the transaction, so a migrator that dies frees it at once.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": advisory_key(schema, MIGRATION_LOCK)})
    elif conn.dialect.name == "sqlite":
        # SQLite's own writer lock, held to the commit; a second migrator waits for it.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
