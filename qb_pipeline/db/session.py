"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

# A writer waits this long for SQLite's lock before giving up (sensor runs, schedule runs and the CLI
# may write at the same time).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; a bare `postgresql://` gets the psycopg2 driver we install."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as it may be shown to a person: the password never appears."""
    return normalize_url(url).render_as_string(hide_password=True)


# The databases this project runs on, with the drivers it installs.
SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg2")
SUPPORTED_DATABASES = "SQLite (sqlite:///path/to/file.sqlite) or PostgreSQL (postgresql://user:password@host:5432/db)"


def supported_url(text: str) -> str:
    """`text`, when it is a URL of a database this project can open; else ValueError (a MySQL URL, say, or
    no URL at all, would otherwise fail deep inside SQLAlchemy on first use)."""
    try:
        parsed = normalize_url(text)
    except ArgumentError:
        raise ValueError("not a database URL") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(f"{parsed.drivername} is not supported")
    return text


def shown_url(text: str) -> str:
    """A URL as given, for an error message: its password hidden, and nothing of it when it cannot be
    parsed and may hold one."""
    try:
        return repr(redact_url(text))
    except ArgumentError:
        return "<hidden>" if "@" in text else repr(text)


def _configure_sqlite(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not pysqlite, issue BEGIN (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


READ_ONLY = "qb_read_only"  # an execution option: this connection's transactions only read (read_scope)


def _sqlite_begin_immediate(conn: sa.Connection) -> None:
    # Take the write lock at BEGIN so two writers queue on busy_timeout instead of one failing
    # with "database is locked" when it upgrades a read transaction. A reading transaction takes
    # none: in WAL mode it reads a snapshot while writers go on.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


class DatabaseMissing(RuntimeError):
    """The SQLite database file is not there (a deleted data folder, a mistyped path)."""


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another kind."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def private_sqlite_file(path: Path, *, create: bool = True) -> None:
    """The database holds orders, customers and the encrypted tokens: its owner's only (0600), in a folder
    that is too (0700) when we make it. SQLite gives the -wal, -shm and -journal files it creates the
    database file's mode, whatever the umask, so the file is made 0600 before SQLite opens it; those an
    older install left readable are narrowed (only their owner may change their mode)."""
    if create:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # SQLite takes an empty file as new
    for file in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        with suppress(FileNotFoundError):
            status = file.stat()
            if status.st_mode & 0o077 and status.st_uid == os.getuid():
                file.chmod(0o600)


def make_engine(url: str | URL, *, create: bool = True) -> sa.Engine:
    """An engine for `url`. create=False (what the product runs with, engine_for): a SQLite file that is not
    there is DatabaseMissing, and one deleted later is never made again, empty, by the next connection —
    only `qb-pipeline db upgrade` (make dev) makes the database."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not create:
            if not path.exists():
                raise DatabaseMissing(
                    f"there is no database at {path}: make it with `qb-pipeline db upgrade` (make dev does)"
                )
            # SQLite's read-write mode without create: a missing file is an error, not a new database.
            parsed = parsed.set(
                database=f"file:{quote(str(path))}", query={**parsed.query, "mode": "rw", "uri": "true"}
            )
        if path is not None:
            private_sqlite_file(path, create=create)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _configure_sqlite)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per URL per process, on a database that exists (make_engine's create=False)."""
    return make_engine(url, create=False)


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with session_factory(engine).begin() as session:
        yield session


@contextmanager
def read_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session that only reads, from one snapshot, rolled back at the end. On SQLite its transaction takes
    no write lock (it reads the WAL as of its first read), so a long read (a large export, an import's
    history) holds up no writer; on PostgreSQL it is REPEATABLE READ, so every statement sees that snapshot."""
    options = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with session_factory(engine.execution_options(**options))() as session:
        yield session  # closing the session rolls its transaction back
