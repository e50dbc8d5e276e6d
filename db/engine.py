"""Engines and sessions for PostgreSQL (production) and SQLite (the embedded default).

The URL always comes from the caller: db/ never reads the environment.

SQLite needs two things to be safe with several threads or processes. It must be a file (each
`:memory:` connection is a separate database), and every transaction must start with
`BEGIN IMMEDIATE`. pysqlite defers `BEGIN` and runs SELECTs outside the transaction, so a
read-then-write (the queue claim) would race; `BEGIN IMMEDIATE` takes the write lock up front and
serialises writers, with `timeout` as the busy wait. SQLite ignores `FOR UPDATE`; this lock is
what makes claims atomic there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_session_factory"]

# Seconds a SQLite connection waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str | URL) -> Engine:
    """Create the engine for a `sqlite:///FILE` or `postgresql[+psycopg]://` URL."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(url, pool_pre_ping=True)
    raise ValueError(f"unsupported database {url.drivername!r}: expected sqlite or postgresql")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose rows stay readable after commit (handlers return them after committing)."""
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(url: URL) -> Engine:
    if url.database in (None, "", ":memory:") or (url.database or "").startswith("file::memory:"):
        raise ValueError("SQLite must be a file database (sqlite:///path/to/clipzz.db)")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Leave transaction control to SQLAlchemy (and _begin_immediate) instead of pysqlite.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
