"""Engines for the records' two backends, and the one way the store reaches them.

SQLite (a file, the default) keeps the first release's durability: WAL, synchronous=FULL, foreign keys on, and
every write in a `BEGIN IMMEDIATE` transaction, so concurrent writers queue on SQLite's lock instead of failing
half-way, and a committed verdict survives a crash. PostgreSQL (a URL) is the scale-out path: several app
processes share one server. Either way a database that cannot be reached is a `BackendError` naming it (with
any password hidden) and saying what to do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.pool import NullPool

from hubchat.errors import BackendError, ConfigError

# How long an SQLite writer waits for another one's lock before giving up, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30.0
# Marks a connection whose transaction will write: SQLite then takes its write lock up front.
_WRITES = "hubchat_writes"
BACKENDS = ("sqlite", "postgresql")


def parse_location(location: str | Path | URL) -> URL:
    """The SQLAlchemy URL of a records database: a URL (text containing `://`) as given, a path as an SQLite file.

    Raises:
        ConfigError: the text is not a SQLAlchemy URL, or names a database other than SQLite or PostgreSQL.
    """
    if isinstance(location, URL):
        url = location
    elif isinstance(location, str) and "://" in location:
        try:
            url = make_url(location)
        except ArgumentError:
            scheme = location.split("://", 1)[0]  # the rest may hold a password
            raise ConfigError(
                f"the records URL ({scheme}://...) is not a SQLAlchemy URL; expected e.g. "
                "postgresql+psycopg://USER@HOST:5432/DATABASE (ui.records_url)"
            ) from None
    else:
        url = URL.create("sqlite+pysqlite", database=str(location))
    if url.get_backend_name() not in BACKENDS:
        raise ConfigError(
            f"the records database {shown(url)} is not supported: ui.records_url takes a postgresql+psycopg:// URL, "
            "or stays empty for the SQLite file ui.db_path"
        )
    return url


def shown(url: URL) -> str:
    """The URL as logs and messages show it: any password replaced by ***."""
    return url.render_as_string(hide_password=True)


def create_records_engine(url: URL, connect_timeout_s: float = 5.0) -> Engine:
    """An engine with the backend's durability and timeout settings (see the module docstring).

    Args:
        url: from `parse_location`.
        connect_timeout_s: PostgreSQL only: how long to wait for the server to accept a connection.
    """
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per call, as in the first release: nothing stays open on the file between requests.
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        return create_engine(
            url,
            # libpq counts whole seconds, and takes anything under 2 as 2.
            connect_args={"connect_timeout": max(2, math.ceil(connect_timeout_s)), "application_name": "hubchat"},
            pool_size=4,
            max_overflow=8,
            pool_pre_ping=True,  # a server restarted since the last request costs a reconnect, not an error
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the records database {shown(url)} needs the {exc.name} driver, which is not installed: "
            "pip install 'hubchat[postgres]' (psycopg 3, for postgresql+psycopg:// URLs)"
        ) from None


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 would open transactions itself, and only before writes; _sqlite_begin opens them all instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A deferred BEGIN that later writes can fail with "database is locked" without waiting; IMMEDIATE waits
    # (up to the busy timeout) for the write lock first. Reads stay deferred: in WAL they never block writers.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITES) else "BEGIN")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that sees one snapshot throughout (an answer and its sentences agree), rolled back
    when done."""
    with _reachable(engine.url), engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # SQLite's deferred BEGIN already reads from one snapshot
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends and rolled back if it raises."""
    with _reachable(engine.url), engine.connect().execution_options(**{_WRITES: True}) as conn, conn.begin():
        yield conn


@contextmanager
def _reachable(url: URL) -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        if not _unreachable(url, exc):
            raise
        raise BackendError(unreachable_message(url, exc)) from exc


# sqlite3 reports a bad statement, a broken constraint and a locked or unreadable file with the same few
# exception classes; its error name tells the file's problems (which a reader can fix) from the program's.
_SQLITE_FILE_ERRORS = frozenset({"BUSY", "LOCKED", "CANTOPEN", "NOTADB", "CORRUPT", "READONLY", "FULL", "PERM", "IOERR"})


def _unreachable(url: URL, exc: DatabaseError) -> bool:
    if url.get_backend_name() == "sqlite":
        parts = str(getattr(exc.orig, "sqlite_errorname", "")).split("_")  # e.g. SQLITE_IOERR_WRITE
        return len(parts) > 1 and parts[1] in _SQLITE_FILE_ERRORS
    return isinstance(exc, OperationalError)  # psycopg's: the server or the link to it, not the statement


def unreachable_message(url: URL, exc: DatabaseError) -> str:
    """What went wrong with the records database and what to do, without the URL's password."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        return (
            f"the records file {url.database} cannot be used: {reason}. Check that its folder is writable and that no "
            "other program holds the file locked (ui.db_path)."
        )
    return (
        f"the records database {shown(url)} cannot be reached: {reason}. Start the PostgreSQL server or fix "
        "ui.records_url (empty: the SQLite file ui.db_path)."
    )
