"""Issue 17, item 3: the limits that must hold across processes hold across
two real app processes on one database (``SMSPAY_LIMITS_BACKEND=database``),
keyed on the client address the trusted proxy reports.

The review ran two app processes (ten workers): 400 recipient POSTs from one
address were allowed 300 times (30 x 10), an API key limited to 20 a minute
let 195 of 250 through, and 10 GETs of one link within a minute recorded 7
visits; behind a proxy every recipient shared the proxy's budget. Here two
uvicorn processes serve the same SQLite database and the requests alternate
between them. With ``redis-server`` installed the same runs go through Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select

from smspay_app import db
from smspay_app.domain import limits
from smspay_app.models import TimelineEvent
from smspay_app.services import api_keys
from smspay_app.settings import PROJECT_ROOT
from tests.factories import make_admin, make_journey, make_key, make_org
from tests.helpers import BROWSER_UA, app_processes, free_port, server_env, wait_until


def _start_redis() -> tuple[subprocess.Popen, str] | None:
    server = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if server is None:
        return None
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        env=server_env(),
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(params=["database", "redis"])
def two_apps(request, settings, session) -> Iterator[list[str]]:
    """Two app processes on the test's database, one trusted proxy in front
    (``SMSPAY_API_TRUSTED_PROXIES=1``: the client address is the last entry of
    X-Forwarded-For), their limits shared through the database or Redis."""
    extra = {"SMSPAY_API_TRUSTED_PROXIES": "1", "SMSPAY_LIMITS_BACKEND": request.param}
    redis_server = None
    if request.param == "redis":
        redis_server = _start_redis()
        if redis_server is None:
            pytest.skip("redis-server is not installed (scripts/test.sh installs it)")
        extra["SMSPAY_REDIS_URL"] = redis_server[1]
    try:
        with app_processes(settings, **extra) as bases:
            yield bases
    finally:
        if redis_server is not None:
            redis_server[0].terminate()
            try:
                redis_server[0].wait(timeout=10)
            except subprocess.TimeoutExpired:
                redis_server[0].kill()


def _spread(bases: list[str], count: int, send) -> list[int]:
    """``send(client, i)`` for i in range(count), alternating between the
    processes, eight at a time; the status codes in order."""
    clients = [httpx.Client(base_url=b, timeout=30, headers={"User-Agent": BROWSER_UA}) for b in bases]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda i: send(clients[i % len(clients)], i).status_code, range(count)))
    finally:
        for c in clients:
            c.close()


def test_recipient_posts_from_one_address_are_limited_across_processes(two_apps):
    """400 POSTs from one client address through the proxy, over both
    processes: exactly the limit (30) allowed, the rest answered 429."""
    codes = _spread(two_apps, 400, lambda c, i: c.post("/l/no-such-token", headers={"X-Forwarded-For": "198.51.100.7"}))
    assert codes.count(404) == 30 and codes.count(429) == 370, sorted(set(codes))


def test_recipient_posts_from_35_addresses_are_all_allowed(two_apps):
    """35 recipients behind one proxy (35 addresses in X-Forwarded-For), one
    POST each: all allowed (the proxy's own address is not the key); a
    client-supplied entry left of the proxy's is not trusted."""
    codes = _spread(
        two_apps, 35, lambda c, i: c.post("/l/no-such-token", headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
    )
    assert codes == [404] * 35
    spoofed = _spread(
        two_apps,
        40,
        lambda c, i: c.post("/l/no-such-token", headers={"X-Forwarded-For": f"10.9.9.{i}, 192.0.2.50"}),
    )
    assert spoofed.count(404) == 30  # one address (the proxy's report), whatever was put before it


def test_an_api_key_limit_holds_across_processes(two_apps, session):
    """A key limited to 20 a minute, 250 requests over both processes: 20 pass."""
    admin = make_admin(session, make_org(session))
    key = make_key(session, admin, rate_limit_per_minute=20)
    codes = _spread(
        two_apps,
        250,
        lambda c, i: c.get(
            "/api/v1/campaigns", headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": "198.51.100.8"}
        ),
    )
    assert codes.count(200) == 20 and codes.count(429) == 230, sorted(set(codes))


def test_visits_are_deduplicated_across_processes(two_apps, session):
    """10 GETs of one link within a minute over both processes: one visit."""
    j = make_journey(session)
    session.commit()
    codes = _spread(two_apps, 10, lambda c, i: c.get(f"/l/{j.token}"))
    assert codes == [200] * 10

    def visits() -> list[TimelineEvent]:
        with Session(db.get_engine()) as s:
            return list(
                s.exec(
                    select(TimelineEvent).where(
                        TimelineEvent.recipient_id == j.recipient_id, TimelineEvent.kind == "visit"
                    )
                )
            )

    assert len(wait_until(visits)) == 1
    time.sleep(0.3)
    assert len(visits()) == 1


# ------------------------------------------------------------------ in process


@pytest.mark.also_on_postgresql
def test_the_database_store_counts_exactly_and_says_how_long_to_wait(settings):
    """The database store under threads: 100 hits at once, limit 7: 7 counted;
    the refusal names the wait until the oldest leaves the window."""
    store = limits.make_store("database")
    now = 1_000_000.0
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: store.hit("t", "k", 7, 60.0, now), range(100)))
    assert answers.count(None) == 7
    assert all(a == 60.0 for a in answers if a is not None)
    assert store.count("t", "k", 60.0, now + 59.9) == 7 and store.count("t", "k", 60.0, now + 60) == 0
    assert store.hit("t", "k", 7, 60.0, now + 60) is None  # the window moved on
    store.clear("t")
    assert store.count("t", "k", 60.0, now + 60) == 0


def test_shared_limiters_pick_the_store_from_the_settings(settings, monkeypatch):
    """auto: memory without Redis; database when asked; the one address
    function reads the trusted proxies' report."""
    assert isinstance(limits.shared_store(), limits.MemoryStore)
    monkeypatch.setenv("SMSPAY_LIMITS_BACKEND", "database")
    from smspay_app.settings import get_settings

    get_settings.cache_clear()
    limits.clear_all_limiters()  # forgets the store: the next use reads the settings again
    assert isinstance(limits.shared_store(), limits.DatabaseStore)
    scope = {"client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"1.2.3.4, 198.51.100.9")]}
    monkeypatch.setenv("SMSPAY_API_TRUSTED_PROXIES", "1")
    get_settings.cache_clear()
    assert api_keys.client_address_of(scope) == "198.51.100.9"
    monkeypatch.setenv("SMSPAY_API_TRUSTED_PROXIES", "0")
    get_settings.cache_clear()
    assert api_keys.client_address_of(scope) == "127.0.0.1"


def test_the_sign_in_address_follows_the_same_trusted_proxies():
    """Reflex's router.session.client_ip (the sign-in back-off's address)
    reads X-Forwarded-For through as many proxies as the API does."""
    env = {**os.environ, "SMSPAY_API_TRUSTED_PROXIES": "2"}
    out = subprocess.run(
        [sys.executable, "-c", "import rxconfig; print(rxconfig.config.trusted_proxy_hops)"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2"
