"""Issue 17, item 1: the README's "Beyond one machine" layout, started for real
and used through its proxy.

Redis (Reflex's state, the shared limits), PostgreSQL, ONE frontend build
(``reflex export --frontend-only``, built once with ``REFLEX_API_URL`` set to
the proxy) served by two app processes (``SMSPAY_RUN_WORKER_IN_APP=false``,
``SMSPAY_API_TRUSTED_PROXIES=1``), two job workers, and nginx in front with
deploy/nginx.conf.template (the file the Compose example uses), round-robin
for HTTP and websockets. Through the proxy: an operator signs in, imports,
sends and watches the funnel while a recipient verifies and pays in the
sandbox (the payment reaches the dashboard across processes); nginx's log
shows both processes served; the shared limits hold (400 POSTs from one
address: exactly 30 allowed; 35 addresses: all allowed).

The failure drills (item 8), last: Redis restarted (at worst a new sign-in;
nothing in the database lost), then one app process killed during an
operator's session and a recipient's visit (nginx sends them to the other;
the page reloads at most once), and one job worker SIGKILLed mid-send and
started again (nobody asked twice, nobody left). The dispatch figures with 1
and 2 workers are bench/bench_dispatch.py --postgresql's."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, pay_by_card_in_sandbox, sign_in, upload
from tests.helpers import BROWSER_UA, forms_of, free_port, server_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CSV = (
    "電話番号,氏名,生年月日,金額\n090-1234-5678,山田 太郎,1980/01/02,3300\n080-2345-6789,佐藤 花子,S55.3.4,5500\n"
).encode()


@dataclass
class Layout:
    base_url: str
    apps: list[str]  # each app process's own address
    access_log: Path
    logs: Path
    app_procs: list[subprocess.Popen]
    redis: list  # [process, port, folder]: the drill restarts it
    workers: list[subprocess.Popen]  # the job workers: a drill kills and restarts one
    start_worker: Callable[[str], subprocess.Popen]
    database_url: str


def _fill(template: str, values: dict[str, str]) -> str:
    """The nginx image's envsubst, for the names given only (nginx's own
    $variables stay)."""
    return re.sub(r"\$\{(SMSPAY_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], template)


def _wait(url: str, proc: subprocess.Popen, what: str, log: Path, tries: int = 600) -> None:
    for _ in range(tries):
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not start; see {log}:\n" + log.read_text(errors="replace")[-3000:])


def _start_redis(folder: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = port or free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        env=server_env(),
        start_new_session=True,
    )
    import redis

    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="module")
def layout(tmp_path_factory, postgres_server) -> Iterator[Layout]:
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        pytest.fail("nginx is not installed (scripts/test.sh installs Debian's nginx)")
    tmp = tmp_path_factory.mktemp("scale-out")
    root = tmp / "app"
    shutil.copytree(
        ROOT,
        root,
        symlinks=True,
        ignore=lambda folder, names: [
            n for n in names if Path(folder) == ROOT and n in (".git", ".venv", "test-artifacts", "data", ".web")
        ],
    )
    logs = ARTIFACTS / "scale-out"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    files = []

    def start(name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "w")
        files.append(log)
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    redis_proc, redis_port = _start_redis(tmp)
    procs.append(redis_proc)
    database = postgres_server.create_database()
    proxy_port, app_ports = free_port(), [free_port(), free_port()]
    base = f"http://127.0.0.1:{proxy_port}"
    env = {
        **os.environ,
        "SMSPAY_DATABASE_URL": postgres_server.url(database),
        "SMSPAY_PUBLIC_BASE_URL": base,
        "SMSPAY_SECRET_KEY": "scale-out-secret-key",
        "SMSPAY_RUN_WORKER_IN_APP": "false",
        "SMSPAY_API_TRUSTED_PROXIES": "1",
        "SMSPAY_WORKER_POLL_SECONDS": "0.2",
        # a killed worker's claims are taken over after 6 s (heartbeat every 2 s)
        "SMSPAY_SMS_LEASE_SECONDS": "6",
        "SMSPAY_DB_POOL_SIZE": "3",
        "SMSPAY_DB_MAX_OVERFLOW": "2",
        "REFLEX_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REFLEX_API_URL": base,
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
    }
    try:
        subprocess.run(
            [sys.executable, "-m", "smspay_app.startup", "--prepare"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        from sqlalchemy import create_engine, text

        engine = create_engine(postgres_server.url(database))
        with engine.begin() as conn:
            conn.execute(text("UPDATE organisation SET quiet_hours_start = '00:00', quiet_hours_end = '00:00'"))
        engine.dispose()
        # Build once: the one artefact every app process serves.
        reflex = str(Path(sys.executable).parent / "reflex")
        with open(logs / "build.log", "w") as build_log:
            subprocess.run(
                [reflex, "export", "--frontend-only", "--no-zip", "--env", "prod"],
                cwd=root,
                env=env,
                check=True,
                stdout=build_log,
                stderr=subprocess.STDOUT,
                timeout=600,
            )
        # What `reflex run --env prod --single-port` sets for its backend
        # (Reflex's internal names start with two underscores): serve the
        # build from .web/build/client, never compile or build again.
        app_env = {
            **env,
            "REFLEX_ENV_MODE": "prod",
            "__REFLEX_SKIP_COMPILE": "true",
            "__REFLEX_MOUNT_FRONTEND_COMPILED_APP": "true",
        }
        app_procs = []
        for i, port in enumerate(app_ports, start=1):
            proc = start(
                f"app{i}",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "smspay_app.smspay_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-proxy-headers",
                    "--log-level",
                    "warning",
                ],
                app_env,
            )
            _wait(f"http://127.0.0.1:{port}/ping", proc, f"app process {i}", logs / f"app{i}.log")
            app_procs.append(proc)

        def start_worker(name: str) -> subprocess.Popen:
            return start(name, [sys.executable, "-m", "smspay_app.worker"], env)

        workers = [start_worker("worker1"), start_worker("worker2")]
        nginx_dir = tmp / "nginx"
        (nginx_dir / "logs").mkdir(parents=True)
        site = _fill(
            (ROOT / "deploy" / "nginx.conf.template").read_text(),
            {
                "SMSPAY_APP_1": f"127.0.0.1:{app_ports[0]}",
                "SMSPAY_APP_2": f"127.0.0.1:{app_ports[1]}",
                "SMSPAY_PROXY_LISTEN": f"127.0.0.1:{proxy_port}",
            },
        )
        (nginx_dir / "smspay.conf").write_text(site)
        access_log = logs / "nginx-access.log"
        access_log.unlink(missing_ok=True)  # nginx appends: this run's lines only
        (nginx_dir / "nginx.conf").write_text(
            "daemon off;\nworker_processes 1;\n"
            + ("user root;\n" if os.geteuid() == 0 else "")
            + f"pid {nginx_dir}/nginx.pid;\nerror_log {logs}/nginx-error.log warn;\n"
            + "events { worker_connections 1024; }\n"
            + "http {\n"
            + "  log_format upstream '$remote_addr $upstream_addr $status $request';\n"
            + f"  access_log {access_log} upstream;\n"
            + f"  client_body_temp_path {nginx_dir}/body;\n  proxy_temp_path {nginx_dir}/proxy;\n"
            + f"  fastcgi_temp_path {nginx_dir}/fcgi;\n  uwsgi_temp_path {nginx_dir}/uwsgi;\n"
            + f"  scgi_temp_path {nginx_dir}/scgi;\n"
            + f"  include {nginx_dir}/smspay.conf;\n"
            + "}\n"
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        proxy = start("nginx", [nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")], env)
        _wait(f"{base}/ping", proxy, "nginx", logs / "nginx.log")
        redis_box = [redis_proc, redis_port, tmp]
        yield Layout(
            base,
            [f"http://127.0.0.1:{p}" for p in app_ports],
            access_log,
            logs,
            app_procs,
            redis_box,
            workers,
            start_worker,
            postgres_server.url(database),
        )
        if redis_box[0] is not redis_proc:  # restarted by the drill
            procs.append(redis_box[0])
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for f in files:
            f.close()
        postgres_server.drop_database(database)


def _upstreams(layout: Layout, pattern: str) -> set[str]:
    """The app processes nginx sent matching requests to (from its access log)."""
    found = set()
    for line in layout.access_log.read_text().splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and re.search(pattern, parts[3]):
            found.add(parts[1])
    return found


def test_both_processes_serve_the_same_build(layout):
    """One build: every asset the login page names loads from either process,
    and the page's JavaScript speaks to the proxy, not to a process's own port."""
    pages = [httpx.get(f"{app}/login/", timeout=10) for app in layout.apps]
    assert [p.status_code for p in pages] == [200, 200] and pages[0].text == pages[1].text
    assets = set(re.findall(r'(?:src|href)="(/assets/[^"]+)"', pages[0].text))
    assert assets
    for app in layout.apps:
        for asset in assets:
            assert httpx.get(app + asset, timeout=10).status_code == 200, (app, asset)
    env_js = [a for a in assets if a.endswith(".js")]
    assert env_js


def test_the_shared_limits_hold_through_the_proxy(layout):
    """400 POSTs from one client address through nginx, spread over both
    processes: exactly 30 allowed. 35 clients with 35 addresses (loopback
    source addresses; nginx reports each in X-Forwarded-For): all allowed."""

    def post(source: str, n: int) -> list[int]:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=layout.base_url, transport=transport, timeout=30) as c:
            return [
                c.post("/l/no-such-token", headers={"X-Forwarded-For": f"10.0.0.{i % 200}"}).status_code
                for i in range(n)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [code for batch in pool.map(lambda _: post("127.0.0.200", 50), range(8)) for code in batch]
    assert codes.count(404) == 30 and codes.count(429) == 370, sorted(set(codes))
    assert len(_upstreams(layout, r"^POST /l/no-such-token")) == 2  # both processes answered
    with ThreadPoolExecutor(max_workers=8) as pool:
        many = [code for batch in pool.map(lambda i: post(f"127.0.1.{i + 1}", 1), range(35)) for code in batch]
    assert many == [404] * 35


def test_operator_and_recipient_through_the_proxy(layout, browser):
    """Sign in, create, import, send, then two recipients verify and pay in
    the sandbox; the operator's page (its websocket on one process) follows
    the payments that the other process recorded."""
    base = layout.base_url
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = admin.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.locator("#new-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/new$"))
    page.locator("#campaign-name").fill("スケール 11月分")
    page.locator("#step-3").click()
    page.locator("#page-title").fill("11月分のご請求")
    page.locator("#amount").fill("3300")
    page.locator("#step-5").click()
    page.locator("#create-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"), timeout=20_000)

    upload(page, "recipients.csv", CSV)  # the upload and the import's websocket: any process
    expect(page.locator("#import-result")).to_contain_text("2件を取り込みました", timeout=30_000)
    page.locator("#send-button").click()
    page.locator("#send-confirm").click()
    expect(page.locator("#count-delivered")).to_have_text("2", timeout=60_000)

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ja-JP")
    recipient = phone.new_page()
    # two recipients' journeys, each on whichever process nginx picks
    for number, birth, amount, paid in (
        ("%2B819012345678", "1980/01/02", "3,300", 1),
        ("%2B818023456789", "1980/03/04", "5,500", 2),
    ):
        recipient.goto(f"{base}/sim/twilio/inbox/{number}")
        link = recipient.locator("a[href*='/l/']").first
        expect(link).to_be_visible(timeout=20_000)
        recipient.goto(link.get_attribute("href"))
        recipient.locator("input[type=text], input[type=tel], input:not([type])").first.fill(birth)
        recipient.locator("button[type=submit], input[type=submit]").first.click()
        expect(recipient.locator("body")).to_contain_text(amount)
        pay_by_card_in_sandbox(recipient)
        expect(page.locator("#count-verified")).to_have_text(str(paid), timeout=20_000)
        expect(page.locator("#count-paid")).to_have_text(str(paid), timeout=20_000)
    expect(page.locator("#collected")).to_have_text("¥8,800")
    page.screenshot(path=str(layout.logs / "operator-paid.png"), full_page=True)
    admin.close()
    phone.close()
    # nginx spread the work over both processes, and the dashboard's websocket
    # followed a journey served (at least in part) by the other process. (nginx
    # logs a websocket when it closes: after the contexts are closed.)
    both = {a.removeprefix("http://") for a in layout.apps}
    sockets: set[str] = set()
    for _ in range(100):
        if sockets := _upstreams(layout, r"^GET /_event"):
            break
        time.sleep(0.1)
    journey = _upstreams(layout, r"^(GET|POST) /l/|^POST /webhooks/stripe")
    assert _upstreams(layout, r".") == both
    assert sockets and (journey - sockets or sockets == both), (sockets, journey)


def _recipients(layout: Layout) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(layout.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM recipient")).scalar_one())
    finally:
        engine.dispose()


def test_drill_a_worker_killed_mid_send_sends_nothing_twice_and_loses_nothing(layout):
    """300 SMS through the two job workers; one is SIGKILLed when about a
    third are sent and started again: every recipient is asked exactly once
    (the simulator counts how many times each number was asked), none is left
    behind, and the killed worker's claims were taken over (its leases)."""
    from sqlalchemy import create_engine, func
    from sqlmodel import Session, select

    from smspay_app.models import SendAttempt
    from smspay_app.services import sending
    from tests.factories import make_campaign, make_org, phone

    n = 300
    stats_before = httpx.get(f"{layout.base_url}/sim/twilio/_stats", timeout=10).json()
    engine = create_engine(layout.database_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            org = make_org(s, name="ドリル送信")
            campaign = make_campaign(s, org, recipients=n, first_phone=50_000)
            sending.start_sending(s, campaign)
            s.commit()

        def progress() -> dict[str, int]:
            with Session(engine) as s:
                return sending.sending_progress(s, campaign.id)

        deadline = time.monotonic() + 120
        while progress()["sent"] + progress()["delivered"] < n // 3:
            assert time.monotonic() < deadline, progress()
            time.sleep(0.05)
        victim = layout.workers[0]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=20)
        killed_at = progress()
        layout.workers[0] = layout.start_worker("worker1-restarted")
        deadline = time.monotonic() + 180
        while (done := progress())["sent"] + done["delivered"] < n:
            assert time.monotonic() < deadline, done
            assert done["failed"] == done["unknown"] == 0, done
            time.sleep(0.2)
        with Session(engine) as s:
            owners = s.exec(
                select(func.count(func.distinct(SendAttempt.provider_message_id))).where(
                    SendAttempt.campaign_id == campaign.id
                )
            ).one()
    finally:
        engine.dispose()
    stats = httpx.get(f"{layout.base_url}/sim/twilio/_stats", timeout=10).json()
    assert stats["messages"] - stats_before["messages"] == n, killed_at
    # every number asked exactly once, across the kill (a resend would carry a
    # new link, so count by number, not by text)
    assert [stats["by_to"].get(phone(50_000 + i)) for i in range(n)] == [1] * n, killed_at
    assert owners == n  # one provider message per recipient
    assert 0 < killed_at["sent"] + killed_at["delivered"] < n, killed_at  # the kill was mid-send


def test_drill_redis_restart_costs_at_most_a_new_sign_in(layout, browser):
    base = layout.base_url
    before = _recipients(layout)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    old, port, folder = layout.redis
    os.killpg(old.pid, signal.SIGTERM)
    old.wait(timeout=20)
    layout.redis[0], _ = _start_redis(folder, port)
    page.goto(f"{base}/campaigns")
    expect(page).to_have_url(re.compile(r"/(campaigns|login)"), timeout=30_000)
    if "/login" in page.url:  # the state was in Redis: a new sign-in, nothing else
        sign_in(page, base, "admin@example.com", "smspay-demo")
    expect(page.locator("#new-campaign")).to_be_visible(timeout=30_000)
    assert _recipients(layout) == before  # the database lost and duplicated nothing
    context.close()


def _recipient_on_the_message_page(layout: Layout) -> tuple[httpx.Client, str, int]:
    """A recipient (a campaign without questions: "continue") who opened their
    link and passed the check through the proxy: the client (its session
    cookie), the link token and the recipient's id."""
    from sqlalchemy import create_engine
    from sqlmodel import Session

    from tests.factories import make_journey

    engine = create_engine(layout.database_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            j = make_journey(s, answers={}, amount_yen=4_400, phone="+819077770001")
    finally:
        engine.dispose()
    client = httpx.Client(base_url=layout.base_url, timeout=20, headers={"User-Agent": BROWSER_UA})
    assert client.get(f"/l/{j.token}").status_code == 200
    verified = client.post(f"/l/{j.token}/verify", data={})
    assert verified.status_code == 303, verified.text
    page = client.get(verified.headers["location"])
    assert page.status_code == 200 and "¥4,400" in page.text
    return client, j.token, j.recipient_id


def _payments_of(layout: Layout, recipient_id: int) -> list[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(layout.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status FROM payment WHERE recipient_id = :r"), {"r": recipient_id})
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def test_drill_killing_an_app_process_sends_everyone_to_the_other(layout, browser):
    """One app process SIGKILLed while an operator is signed in and a recipient
    stands on their invoice: nginx sends both to the survivor; the recipient
    pays (the POST, the checkout, the webhook, all on the survivor) with no
    retry to make, and is paid exactly once; the operator is still signed in."""
    base = layout.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    recipient, token, recipient_id = _recipient_on_the_message_page(layout)
    victim = layout.app_procs[1]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=20)
    # The recipient's pages and the admin's assets: every request answered by
    # the survivor (nginx retries a refused connection on the next upstream).
    with httpx.Client(base_url=base, timeout=10) as c:
        assert [c.get("/l/no-such-token").status_code for _ in range(10)] == [404] * 10
        assert [c.get("/login/").status_code for _ in range(6)] == [200] * 6
    # The recipient carries on where they were (their session is in the
    # database): pay, choose card at the sandbox, back to a paid page.
    assert recipient.get(f"/l/{token}").status_code == 200
    to_gateway = recipient.post(f"/l/{token}/pay", data={})
    assert to_gateway.status_code == 303 and "/sim/stripe/pay/" in to_gateway.headers["location"], to_gateway.text
    checkout = recipient.get(to_gateway.headers["location"])
    assert checkout.status_code == 200, checkout.text
    action = forms_of(checkout.text)[0]["action"]
    back = recipient.post(action, data={"method": "card", "outcome": "success"})
    assert back.status_code == 303
    deadline = time.monotonic() + 30
    while _payments_of(layout, recipient_id) != ["succeeded"]:
        assert time.monotonic() < deadline, _payments_of(layout, recipient_id)
        time.sleep(0.2)
    paid = recipient.get(back.headers["location"])
    assert paid.status_code == 200 and "ありがとうございました" in paid.text
    recipient.close()
    # The operator's tab reconnects (its websocket was on either process): at
    # most one reload, still signed in, the campaign list there.
    page.reload()
    expect(page).to_have_url(re.compile(r"/campaigns/?$"), timeout=30_000)
    expect(page.locator("#new-campaign")).to_be_visible(timeout=30_000)
    context.close()
