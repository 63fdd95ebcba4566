"""End-to-end fixtures: the production build of the whole app (Reflex admin +
recipient pages + simulators) started once per test session on a free port,
and Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import ARTIFACTS
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class AppServer:
    def __init__(self, base_url: str, db_url: str, log_path: Path):
        self.base_url = base_url
        self.db_url = db_url
        self.log_path = log_path
        self.startup_output = ""
        self.pid = 0  # the server's process (``reflex run``; its children are its workers)

    def session(self):
        """A database session on the running app's database (to arrange data
        a test needs, e.g. a second organisation or a support user)."""
        from sqlmodel import Session

        from smspay_app.db import engine_for

        return Session(engine_for(self.db_url), expire_on_commit=False)


def _browser_executable() -> str | None:
    """A Chromium the way a user's machine has one: SMSPAY_CHROMIUM, then one
    on PATH (Debian's chromium), else Playwright's own download."""
    explicit = os.environ.get("SMSPAY_CHROMIUM")
    if explicit and Path(explicit).exists():
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    with running_app(tmp_path_factory.mktemp("e2e"), "e2e-server.log") as server:
        yield server


@pytest.fixture(scope="module")
def fresh_app_server(tmp_path_factory) -> Iterator[AppServer]:
    """A fresh installation without the demo (its own database and server).

    It runs from a copy of the project: a production build writes its own
    port into ``.web``, so a second build in the same folder would point the
    session server's pages at this server's websocket (every later sign-in
    then failed with "Cannot connect to server")."""
    tmp = tmp_path_factory.mktemp("e2e-fresh")
    root = tmp / "app"
    shutil.copytree(
        ROOT,
        root,
        symlinks=True,
        ignore=_top_level(".git", ".venv", "test-artifacts", "data"),
    )
    with running_app(tmp, "e2e-fresh-server.log", root=root, SMSPAY_SEED_DEMO="false") as server:
        yield server


def _top_level(*names: str):
    """A ``copytree`` ignore that leaves out these names in the project's root
    only (``node_modules`` holds folders called ``data`` that a build needs)."""

    def ignore(folder: str, entries: list[str]) -> list[str]:
        return [e for e in entries if Path(folder) == ROOT and e in names]

    return ignore


@contextlib.contextmanager
def running_app(tmp: Path, log_name: str, *, root: Path = ROOT, **env_overrides: str) -> Iterator[AppServer]:
    """Prepare a fresh database (``smspay_app.startup``, whose output is kept
    in ``AppServer.startup_output``) and serve the production build on a free
    port until the block ends. ``env_overrides``: extra ``SMSPAY_...`` settings
    (``SMSPAY_SEED_DEMO="false"`` for a fresh install without the demo)."""
    port = free_port()
    base_url = f"http://localhost:{port}"
    db_url = f"sqlite:///{tmp / 'e2e.db'}"
    env = {
        **os.environ,
        "SMSPAY_DATABASE_URL": db_url,
        "SMSPAY_PUBLIC_BASE_URL": base_url,
        "SMSPAY_SECRET_KEY": "e2e-secret-key",
        "SMSPAY_RUN_WORKER_IN_APP": "true",
        "SMSPAY_WORKER_POLL_SECONDS": "0.2",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
        **env_overrides,
    }
    started = subprocess.run(
        [sys.executable, "-m", "smspay_app.startup"], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    # The walkthrough must not depend on the hour it runs at: the demo
    # organisation sends around the clock here (quiet hours have tests of their own).
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE organisation SET quiet_hours_start = '00:00', quiet_hours_end = '00:00'"))
    engine.dispose()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    log = open(log_path, "w")
    reflex = str(Path(sys.executable).parent / "reflex")
    proc = subprocess.Popen(
        [reflex, "run", "--env", "prod", "--single-port", "--frontend-port", str(port), "--backend-port", str(port)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 420
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if (
                httpx.get(f"{base_url}/login", timeout=2, follow_redirects=True).status_code == 200
                and httpx.get(f"{base_url}/ping", timeout=2).status_code == 200
            ):
                ready = True
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    if not ready:
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError(f"app did not start; see {log_path}:\n" + log_path.read_text()[-4000:])
    server = AppServer(base_url, db_url, log_path)
    server.startup_output = started.stdout
    server.pid = proc.pid
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):  # the server may have stopped on its own
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API drives its own event loop in this
    thread, which must be gone before async tests in other modules run."""
    from playwright.sync_api import sync_playwright

    executable = _browser_executable()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
