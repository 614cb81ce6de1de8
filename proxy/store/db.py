"""Engines and sessions for the store, and the one error it raises when the database fails.

SQLite and PostgreSQL are both supported; `postgresql://` URLs use psycopg 3.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import URL, Engine
    from sqlalchemy.pool import ConnectionPoolEntry

# WAL lets the proxy read while an import writes; NORMAL is durable enough under WAL.
# busy_timeout first: the switch to WAL needs a moment alone with the file.
SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
)
WAL_SWITCH_TRIES = 50  # x 0.1 s: processes opening a new database at once take turns
POSTGRES_CONNECT_TIMEOUT = 5  # seconds: an unreachable server must not stall a flow for minutes
_POSTGRES_ALIASES = frozenset({"postgres", "postgresql"})


class StoreUnavailable(Exception):
    """The database cannot be reached or used right now (down, unreachable, locked)."""

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


def normalise_url(url: str | URL) -> URL:
    """Parse `url`, giving bare `postgresql://` (and `postgres://`) URLs the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES_ALIASES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: the password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str | URL, *, strict_transactions: bool = False) -> Engine:
    """An engine for `url`: SQLite with WAL and foreign keys, PostgreSQL with pre-ping.

    `strict_transactions` (SQLite only) switches sqlite3 to PEP 249 transaction control,
    so that SELECT, DDL and SAVEPOINT run inside the transaction: tests that roll back
    through savepoints need it. The app keeps the driver's default, where a transaction
    starts at its first write: a session that reads and then writes cannot then fail with
    "database is locked" because another writer committed after its read.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"autocommit": False} if strict_transactions else {}
        engine = create_engine(parsed, connect_args=connect_args)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        return create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT},
        )
    return create_engine(parsed, pool_pre_ping=True)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # PRAGMA foreign_keys is a silent no-op inside a transaction, and with
    # autocommit=False sqlite3 is always in one: step out of it while setting up.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            _execute_pragma(cursor, pragma)
    finally:
        cursor.close()
        dbapi_connection.autocommit = autocommit


def _execute_pragma(cursor: Any, pragma: str) -> None:
    """Run `pragma`; the journal mode switch is retried while another process holds the
    file (SQLite answers it "database is locked" at once, without the busy handler)."""
    for attempt in range(WAL_SWITCH_TRIES):
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as e:
            locked = "locked" in str(e) and "journal_mode" in pragma
            if not locked or attempt == WAL_SWITCH_TRIES - 1:
                raise
            time.sleep(0.1)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (no expiry)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def store_errors(url: str | URL) -> Iterator[None]:
    """Turn "the database is down or unreachable" into `StoreUnavailable`, naming the database.

    Programming errors (bad SQL, constraint violations) pass through unchanged.
    """
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as e:
        masked = mask_url(url)
        raise StoreUnavailable(f"database {masked} is unavailable: {_reason(e)}", masked) from e


def _reason(error: exc.SQLAlchemyError) -> str:
    """The driver's first line of explanation, without SQLAlchemy's SQL and link lines."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__
