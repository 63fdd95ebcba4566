"""Shared fixtures. Every test gets its own SQLite database, a copy of a
template migrated once per session (per worker process) through Alembic, as in
production; tests marked ``also_on_postgresql`` run a second time on a real
PostgreSQL server (tests/postgres.py); ``live_server`` runs the real Starlette
web app (recipient pages, webhooks, simulators) with uvicorn on a free
loopback port."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from smspay_app import db
from smspay_app.settings import Settings
from tests.helpers import app_processes, settings_for
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)


def pytest_collection_modifyitems(config, items):
    """End-to-end tests (a production build and a browser) run last, after the
    fast tests have had their say."""
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace("\\", "/"))


def pytest_generate_tests(metafunc):
    """``@pytest.mark.also_on_postgresql``: the test runs on SQLite and again
    on PostgreSQL (ids ``[sqlite]`` and ``[postgresql]``)."""
    if metafunc.definition.get_closest_marker("also_on_postgresql") and "settings" in metafunc.fixturenames:
        metafunc.parametrize("settings", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(autouse=True)
def empty_rate_limits() -> None:
    """Every in-memory limiter of the process starts empty: the REST API's
    per-key limit, the recipient pages' per-address limit and the sign-in
    throttle are process state, and key/user ids restart at 1 in each test's
    database (test_docs_curl met a schemathesis run's 429 before this)."""
    from smspay_app.domain.limits import clear_all_limiters

    clear_all_limiters()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at argon2's cheapest costs for the passwords tests create (the
    suite hashes hundreds; the default costs take about 0.1 s each here). The
    app's own default is checked in tests/test_auth_and_campaigns.py; the e2e
    tests' app server runs with it."""
    from argon2 import PasswordHasher, profiles

    from smspay_app.domain import security

    previous = security.use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    security.use_password_hasher(previous)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database migrated to the newest revision through Alembic, once
    per session (per worker process: each has its own base temp directory).
    Checkpointed and switched out of WAL mode, so the file alone is the
    database: tests copy it and nothing else."""
    path = tmp_path_factory.getbasetemp() / "template.db"
    if not path.exists():
        from smspay_app.migrate import upgrade_database

        url = f"sqlite:///{path}"
        upgrade_database(url)
        db.engine_for(url).dispose()
        db.engine_for.cache_clear()
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        leftovers = [p.name for p in path.parent.glob("template.db-*")]
        assert not leftovers, f"the template database left {leftovers} beside it"
    return path


@pytest.fixture
def settings(request, tmp_path, monkeypatch) -> Iterator[Settings]:
    """Fresh settings and a database at the newest revision: a copy of the
    migrated template under ``tmp_path`` (or, for the ``[postgresql]`` run of a
    test marked ``also_on_postgresql``, a fresh PostgreSQL database migrated
    through Alembic). Tests of the migrations themselves, marked
    ``migrates``, get an empty file migrated through Alembic for them."""
    if getattr(request, "param", "sqlite") == "postgresql":
        yield from settings_for(monkeypatch, request.getfixturevalue("postgres_url"))
        return
    database = tmp_path / "test.db"
    if request.node.get_closest_marker("migrates"):
        yield from settings_for(monkeypatch, f"sqlite:///{database}")
        return
    shutil.copyfile(request.getfixturevalue("sqlite_template"), database)
    yield from settings_for(monkeypatch, f"sqlite:///{database}", migrate=False)


@pytest.fixture
def session(settings):
    from sqlmodel import Session

    with Session(db.get_engine(), expire_on_commit=False) as s:
        yield s


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)


@pytest.fixture
def live_server(settings) -> Iterator[LiveServer]:
    """The web app on ``settings.public_base_url`` (a real HTTP server)."""
    from smspay_app.web.app import build_web_app

    port = settings.__dict__["_test_port"]
    # proxy_headers off: uvicorn would otherwise trust X-Forwarded-For from
    # loopback peers; the app decides that itself (settings.api_trusted_proxies).
    config = uvicorn.Config(build_web_app(), host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    yield LiveServer(base_url=settings.public_base_url, server=server)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def two_apps(settings) -> Iterator[list[str]]:
    """Two processes of the web app on the test's database: their base URLs."""
    with app_processes(settings) as bases:
        yield bases
