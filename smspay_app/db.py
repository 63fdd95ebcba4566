"""The database engine and session factory (one per process).

``engine_for`` is the one place an engine is made, and so the one place the
process-wide session hooks are installed: the campaign counters
(``services.stats.install_counters``, idempotent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
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
