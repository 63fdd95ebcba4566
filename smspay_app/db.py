"""The database engine and session factory (one per process).

``engine_for`` is the one place an engine is made, and so the one place the
process-wide session hooks are installed: the campaign counters
(``services.stats.install_counters``, idempotent)."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, create_engine

from smspay_app.settings import get_settings


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    from smspay_app.services.stats import install_counters

    install_counters()
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return eng
    # Every process opens up to pool size + overflow connections: with several
    # processes keep their sum under the server's max_connections (issue 17:
    # the defaults, 5 + 10, let 11 processes open 165 of PostgreSQL's 100).
    settings = get_settings()
    return create_engine(
        url, pool_pre_ping=True, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


class ReadConnection(NamedTuple):
    """A driver connection for one read-only statement, with its dialect
    (to compile the statement and process its columns)."""

    dialect: Dialect
    driver: Any


_held_readers: weakref.WeakKeyDictionary[Engine, threading.local] = weakref.WeakKeyDictionary()


def _held_sqlite_reader(engine: Engine) -> Any:
    """This thread's own SQLite connection for reads, opened once and kept
    (issue 16, item 2: the pool's check-out and reset cost the landing GET
    about as much as its query). Taken out of the pool with the engine's
    pragmas applied, then made read-only (``query_only``): a statement
    written here by mistake fails instead of writing. Outside a transaction
    (SQLite's driver begins none for a SELECT) each read sees every commit,
    as a pooled connection's would; in WAL mode it waits for no writer."""
    local = _held_readers.get(engine)
    if local is None:
        local = _held_readers.setdefault(engine, threading.local())
    held = getattr(local, "reader", None)
    if held is None or held[0] != os.getpid():  # not this thread's yet, or inherited through fork
        fairy = engine.raw_connection()
        driver = fairy.driver_connection
        fairy.detach()  # ours until the thread ends (the pool opens another in its place)
        driver.execute("PRAGMA query_only=ON")
        held = local.reader = (os.getpid(), driver)
    return held[1]


@contextmanager
def read_connection() -> Iterator[ReadConnection]:
    """A connection for one read-only statement on the hot path: on SQLite
    this thread's held one (``_held_sqlite_reader``), elsewhere one from the
    pool (a PostgreSQL server may close an idle connection; the pool checks)."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        yield ReadConnection(engine.dialect, _held_sqlite_reader(engine))
        return
    with engine.connect() as connection:
        yield ReadConnection(connection.dialect, connection.connection.driver_connection)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
