"""Helpers shared by test modules (test data lives in tests/factories.py):
settings on a test database, a free loopback port, reading rows back, the
recipient pages' HTML forms, REST API clients, and the SMS simulator and
worker processes. Test modules import from here, never from one another."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
from sqlmodel import Session, select

from smspay_app import db
from smspay_app.models import Link, TimelineEvent
from smspay_app.settings import PROJECT_ROOT, Settings, get_settings

BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ settings on a test database


def _reset_caches() -> None:
    get_settings.cache_clear()
    db.engine_for.cache_clear()


def settings_for(monkeypatch, database_url: str, *, migrate: bool = True) -> Iterator[Settings]:
    """Fresh settings on ``database_url``, migrated to the newest revision
    through Alembic unless ``migrate=False`` (the database is already there);
    a generator for a fixture: ``yield from settings_for(...)``. The
    ``settings`` fixture of tests/conftest.py is built with it, and test
    modules on another database override ``settings`` with it
    (tests/test_postgres_mode.py)."""
    from smspay_app.migrate import upgrade_database

    port = free_port()
    monkeypatch.setenv("SMSPAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SMSPAY_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SMSPAY_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("SMSPAY_RUN_WORKER_IN_APP", "false")
    _reset_caches()
    if migrate:
        upgrade_database()
    s = get_settings()
    s.__dict__["_test_port"] = port
    yield s
    db.get_engine().dispose()
    _reset_caches()


# ------------------------------------------------------------------ reading back


def reload(session: Session, model, ident):
    session.expire_all()
    return session.get(model, ident)


def events(session: Session, recipient_id: int) -> list[TimelineEvent]:
    session.expire_all()
    return list(
        session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == recipient_id).order_by(TimelineEvent.id))
    )


def kinds(session: Session, recipient_id: int) -> list[str]:
    return [e.kind for e in events(session, recipient_id)]


def link_of(session: Session, j) -> Link:
    """The link of a ``factories.Journey``, read afresh."""
    return reload(session, Link, j.link_id)


# ------------------------------------------------------------------ recipient pages' forms


class Forms(HTMLParser):
    """Collects forms: action, method, and input/button name -> value."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = {
                "action": a.get("action", ""),
                "method": a.get("method", "get"),
                "fields": {},
                "radios": {},
            }
            self.forms.append(self._current)
        elif tag in ("input", "button") and self._current is not None and a.get("name"):
            if a.get("type") == "radio":
                self._current["radios"].setdefault(a["name"], []).append(a.get("value"))
                if "checked" in a:
                    self._current["fields"][a["name"]] = a.get("value")
            else:
                self._current["fields"].setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def form_to(html: str, suffix: str) -> dict:
    for form in forms_of(html):
        if form["action"].endswith(suffix):
            return form
    raise AssertionError(f"no form posting to *{suffix} in page")


# ------------------------------------------------------------------ REST API


def api_client(live_server, key: str, **headers) -> httpx.Client:
    """A client of the live server speaking with an API key."""
    return live_server.client(headers={"Authorization": f"Bearer {key}", **headers})


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


CAMPAIGN = {
    "name": "電話注文",
    "sms_template": "{{name}}様 ご注文のお支払いはこちら {{link}}",
    "page_title": "ご注文のお支払い",
    "page_message": "{{name}}様、ご注文ありがとうございます。",
    "amount_yen": 4_980,
    "questions": [{"label": "生年月日", "column": "birth_date", "kind": "date"}],
}


# ------------------------------------------------------------------ simulator and worker processes


def start_simulator(settings) -> tuple[subprocess.Popen, str]:
    """The SMS simulator as its own process on a free port: (process, base URL)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smspay_app.providers.sms.simulator",
            "--port",
            str(port),
            "--account-sid",
            settings.twilio_account_sid,
            "--auth-token",
            settings.twilio_auth_token,
            "--inbound-url",
            "",
        ],
        cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/_stats", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("simulator did not start")


def start_karaden_simulator(settings) -> tuple[subprocess.Popen, str]:
    """The Karaden-compatible simulator as its own process on a free port:
    (process, API base URL for a Karaden connection)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smspay_app.providers.sms.karaden_simulator",
            "--port",
            str(port),
            "--tenant-id",
            settings.karaden_sim_tenant_id,
            "--token",
            settings.karaden_sim_token,
            "--service-id",
            str(settings.karaden_sim_service_id),
        ],
        cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/_stats", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("karaden simulator did not start")


def add_karaden_connection(session, org, settings, api_base: str) -> int:
    """A Karaden connection (the organisation's default) to a Karaden simulator."""
    from smspay_app.services import connections
    from tests.factories import make_caller

    added = connections.add(
        session,
        make_caller(session, org, "admin", email=f"karaden-admin-{org.id}@example.com"),
        kind="sms",
        provider="karaden",
        fields={
            "tenant_id": settings.karaden_sim_tenant_id,
            "service_id": str(settings.karaden_sim_service_id),
            "token": settings.karaden_sim_token,
            "api_base": api_base,
        },
    )
    session.commit()
    return added.connection_id


def worker_env(settings, sim_base: str, *, rate_per_second: str = "60") -> dict[str, str]:
    """The environment of a worker process on the test's database and the simulator."""
    env = dict(os.environ)
    env.update(
        SMSPAY_DATABASE_URL=settings.database_url,
        SMSPAY_PUBLIC_BASE_URL=settings.public_base_url,
        SMSPAY_SECRET_KEY=settings.secret_key,
        SMSPAY_TWILIO_API_BASE=sim_base,
        SMSPAY_SMS_RATE_PER_SECOND=rate_per_second,
        SMSPAY_WORKER_POLL_SECONDS="0.05",
        SMSPAY_RUN_WORKER_IN_APP="false",
    )
    return env


def server_env() -> dict[str, str]:
    """The environment for a third-party server a test starts (redis-server):
    without the clock check's libfaketime, which such servers do not survive
    ("unexpected recursive calls to clock_gettime()"); our own processes keep it."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def wait_until(predicate, timeout: float = 10.0):
    """Poll ``predicate`` until it returns something true or ``timeout`` seconds
    pass; returns its last value (callbacks and webhooks arrive on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def serve_process(args: list[str], env: dict[str, str], port: int, ready: str) -> subprocess.Popen:
    """``python *args`` as a server process on ``port``, returned once ``ready``
    (a path) answers below 500."""
    proc = subprocess.Popen([sys.executable, *args], cwd=PROJECT_ROOT, env=env)
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server on {port} did not start")


@contextlib.contextmanager
def app_processes(settings: Settings, count: int = 2, **env: str) -> Iterator[list[str]]:
    """``count`` processes of the web app (what Reflex mounts; as Granian's
    workers are) on the test's database, with ``env`` added to their
    environment: their base URLs while the block runs."""
    full = {
        **os.environ,
        "SMSPAY_DATABASE_URL": settings.database_url,
        "SMSPAY_PUBLIC_BASE_URL": settings.public_base_url,
        "SMSPAY_SECRET_KEY": settings.secret_key,
        "SMSPAY_RUN_WORKER_IN_APP": "false",
        **env,
    }
    procs: list[subprocess.Popen] = []
    bases = []
    try:
        for _ in range(count):
            port = free_port()
            cmd = ["-m", "uvicorn", "--factory", "smspay_app.web.app:build_web_app", "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--no-proxy-headers", "--log-level", "warning"]
            procs.append(serve_process(cmd, full, port, "/l/none"))
            bases.append(f"http://127.0.0.1:{port}")
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


# ------------------------------------------------------------------ the campaign page's state


class OpenedCampaignPage:
    """The campaign page's panels after ``CampaignPageState.open``, as one
    browser tab holds them (``header``, ``table``, ``importing``, ``check``,
    ``funnel``); ``reopen()`` opens it again on the same tab."""

    def __init__(self, token: str, campaign_id: int) -> None:
        import reflex as rx

        from smspay_app.components.funnel import FunnelPanelState
        from smspay_app.pages.campaigns import (
            CampaignDetailState,
            ImportState,
            RecipientTableState,
            SendCheckState,
        )
        from smspay_app.pages.campaigns.detail import CampaignPageState

        root = rx.State(_reflex_internal_init=True)
        path = f"/campaigns/{campaign_id}"
        root.router_data = root._update_router_vars({"query": {"campaign_id": str(campaign_id)}, "pathname": path}, {})

        def part(cls):
            return root.get_substate(cls.get_full_name().split("."))

        self.page = part(CampaignPageState)
        self.page._bind_session(token)
        self.header, self.table = part(CampaignDetailState), part(RecipientTableState)
        self.importing, self.check, self.funnel = part(ImportState), part(SendCheckState), part(FunnelPanelState)
        self.followed_by: object = None

    async def reopen(self) -> OpenedCampaignPage:
        from smspay_app.pages.campaigns.detail import CampaignPageState

        self.followed_by = await CampaignPageState.open.fn(self.page)
        return self


async def open_campaign_page(token: str, campaign_id: int) -> OpenedCampaignPage:
    """Open the campaign page ``campaign_id`` signed in with ``token`` (a
    fresh tab): what ``CampaignPageState.open`` loads into every panel."""
    return await OpenedCampaignPage(token, campaign_id).reopen()
