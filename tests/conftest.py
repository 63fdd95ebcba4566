"""Shared fixtures. Every test gets its own migrated SQLite database (through
Alembic, as in production); ``live_server`` runs the real Starlette web app
(recipient pages, webhooks, simulators) with uvicorn on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from smspay_app import db
from smspay_app.settings import Settings, get_settings


def pytest_collection_modifyitems(config, items):
    """End-to-end tests (a production build and a browser) run last, after the
    fast tests have had their say."""
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace("\\", "/"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_caches() -> None:
    get_settings.cache_clear()
    db.engine_for.cache_clear()


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Iterator[Settings]:
    """Fresh settings and a migrated database under ``tmp_path``."""
    yield from settings_for(monkeypatch, f"sqlite:///{tmp_path / 'test.db'}")


def settings_for(monkeypatch, database_url: str) -> Iterator[Settings]:
    """Fresh settings on ``database_url``, migrated to the newest revision
    (a generator for a fixture: ``yield from settings_for(...)``). Test modules
    on another database override ``settings`` with it (tests/test_postgres_mode.py)."""
    from smspay_app.migrate import upgrade_database

    port = free_port()
    monkeypatch.setenv("SMSPAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SMSPAY_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SMSPAY_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("SMSPAY_RUN_WORKER_IN_APP", "false")
    _reset_caches()
    upgrade_database()
    s = get_settings()
    s.__dict__["_test_port"] = port
    yield s
    db.get_engine().dispose()
    _reset_caches()


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
