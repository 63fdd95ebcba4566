"""Dispatch throughput and CPU per SMS against the SMS simulator over loopback HTTP.

The simulator runs in its own processes (as a real provider would:
``--sim-workers`` server processes sharing one store). Figures of one run, each
with the CPU time of the process under test (its own counters, /proc):

- simulator alone: a lean HTTP/1.1 client (raw asyncio sockets, keep-alive,
  64 connections) creating N messages: the simulator's rate and CPU per message;
- baseline: the Twilio adapter posting N messages straight to the simulator
  (bounded concurrency, one httpx.AsyncClient), no database work at all;
- dispatch: the real dispatcher on SQLite (claim with lease, link issued and
  text rendered per message, attempt committed as ``sending`` before the call,
  outcome recorded), N recipients queued by ``start_sending``;
- PostgreSQL (``--postgresql``, a server started like the tests' one): 1 and 2
  ``python -m smspay_app.worker`` processes, rate (first claim to last
  acceptance, from the database) and CPU per SMS of the workers.

Targets (issue 16 item 4): simulator alone >= 3x the dispatcher's rate;
dispatch >= 0.85 of the baseline and >= 1,000 messages/s on SQLite; every
message asked exactly once. On a shared machine read the CPU figures first.

    python bench/bench_dispatch.py [--messages 5000] [--batch 200] [--concurrency 4]
                                   [--sim-workers 1] [--rounds 3] [--postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (/proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def body_of(i: int) -> str:
    return f"【ベンチ】顧客{i}様 ご請求のお知らせです http://127.0.0.1:9/l/{'x' * 22}"


async def lean_load(port: int, account: str, token: str, n: int, connections: int = 64) -> dict[int, int]:
    """N creates over raw keep-alive connections (the client costs ~1/4 of the server)."""
    auth = base64.b64encode(f"{account}:{token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{account}/Messages.json"
    todo = list(range(n))
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while todo:
            i = todo.pop()
            form = {"To": f"+8190{30000000 + i:08d}", "From": "SMSPAY", "Body": body_of(i)}
            form["StatusCallback"] = "http://127.0.0.1:9/webhooks/twilio/status?ref=x"
            data = urlencode(form).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0
            )
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sim-workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="baseline and dispatch rounds, alternating")
    parser.add_argument("--postgresql", action="store_true", help="also 1 and 2 worker processes on PostgreSQL")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="smspay-bench-")
    port = free_port()
    sim_base = f"http://127.0.0.1:{port}"
    os.environ.update(
        SMSPAY_DATABASE_URL=f"sqlite:///{tmp}/bench.db",
        SMSPAY_PUBLIC_BASE_URL="http://127.0.0.1:9",
        SMSPAY_SECRET_KEY="bench",
        SMSPAY_TWILIO_API_BASE=sim_base,
        SMSPAY_SMS_RATE_PER_SECOND="1000000",
        SMSPAY_RUN_WORKER_IN_APP="false",
        SMSPAY_SMS_CARRIER_LOOKUP="false",
    )
    import httpx

    from smspay_app.settings import get_settings

    settings = get_settings()
    sim = subprocess.Popen(
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
            "--workers",
            str(args.sim_workers),
            "--store",
            f"{tmp}/simulator.sqlite3",
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(400):
            try:
                httpx.get(sim_base + "/_stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        time.sleep(1.0)  # every worker process up
        httpx.post(sim_base + "/_control", json={"callbacks": False})
        return asyncio.run(_bench(args, settings, sim_base, port, sim.pid, tmp))
    finally:
        sim.terminate()
        sim.wait()


async def _bench(args, settings, sim_base: str, port: int, sim_pid: int, tmp: str) -> int:
    import httpx
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.migrate import upgrade_database
    from smspay_app.providers.sms.base import SendRequest, get_sms_provider
    from smspay_app.services import sending
    from smspay_app.worker.dispatcher import Dispatcher
    from tests.factories import make_campaign, make_org

    n = args.messages
    upgrade_database()
    results: list[tuple[str, bool]] = []

    # --- the simulator alone (lean client).
    await lean_load(port, settings.twilio_account_sid, settings.twilio_auth_token, 500)
    httpx.post(sim_base + "/_reset")
    sim_cpu0, t0 = cpu_seconds(sim_pid), time.perf_counter()
    statuses = await lean_load(port, settings.twilio_account_sid, settings.twilio_auth_token, n)
    sim_rate = n / (time.perf_counter() - t0)
    sim_us = (cpu_seconds(sim_pid) - sim_cpu0) / n * 1e6
    ok_alone = statuses == {201: n} and httpx.get(sim_base + "/_stats").json()["messages"] == n
    httpx.post(sim_base + "/_reset")

    # --- baseline (the adapter, straight to the simulator, no DB) and dispatch
    # (the real dispatcher on SQLite, in this process), alternating for
    # --rounds rounds: a shared machine's speed drifts within a minute, so
    # each round's ratio compares neighbours and the median is the figure.
    provider = get_sms_provider(settings)
    await provider.send(SendRequest(to="+819000000000", sender="SMSPAY", body="warm-up"))
    sem = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> None:
        async with sem:
            await provider.send(
                SendRequest(
                    to=f"+8190{20000000 + i:08d}",
                    sender="SMSPAY",
                    body=body_of(i),
                    status_callback="http://127.0.0.1:9/webhooks/twilio/status?ref=x",
                )
            )

    async def baseline_round() -> tuple[float, float, float]:
        sim_cpu0, me0, t0 = cpu_seconds(sim_pid), time.process_time(), time.perf_counter()
        for start in range(0, n, args.batch):
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + args.batch))))
        rate = n / (time.perf_counter() - t0)
        figures = rate, (time.process_time() - me0) / n * 1e6, (cpu_seconds(sim_pid) - sim_cpu0) / n * 1e6
        httpx.post(sim_base + "/_reset")
        return figures

    async def dispatch_round(k: int) -> tuple[float, float, float, float, bool, dict]:
        with Session(get_engine(), expire_on_commit=False) as s:
            org = make_org(s, name=f"ベンチ{k}")
            campaign = make_campaign(s, org, recipients=n)
            t_queue = time.perf_counter()
            sending.start_sending(s, campaign)
            s.commit()
            queue_s = time.perf_counter() - t_queue
        dispatcher = Dispatcher(batch_size=args.batch, concurrency=args.concurrency, lookup_carriers=False)
        sim_cpu0, me0, t0 = cpu_seconds(sim_pid), time.process_time(), time.perf_counter()
        sent = await dispatcher.run_forever(until_idle=True)
        elapsed = time.perf_counter() - t0
        disp_us = (time.process_time() - me0) / max(sent, 1) * 1e6
        disp_sim_us = (cpu_seconds(sim_pid) - sim_cpu0) / max(sent, 1) * 1e6
        await dispatcher.aclose()
        stats = httpx.get(sim_base + "/_stats").json()
        with Session(get_engine()) as s:
            progress = sending.sending_progress(s, campaign.id)
        exact = stats["messages"] == n and stats["max_asked"] == 1 and progress["sent"] == n
        httpx.post(sim_base + "/_reset")
        return sent / elapsed, disp_us, disp_sim_us, queue_s, exact, progress

    print(
        f"messages:                 {n} per round, {args.rounds} rounds (batch {args.batch}, concurrency {args.concurrency})"
    )
    print(
        f"simulator alone:          {sim_rate:,.0f} messages/s, {sim_us:,.0f} us CPU/msg ({args.sim_workers} processes)"
    )
    rounds = []
    for k in range(args.rounds):
        base_rate, base_us, base_sim_us = await baseline_round()
        rate, disp_us, disp_sim_us, queue_s, exact, progress = await dispatch_round(k)
        rounds.append((rate / base_rate, base_rate, base_us, rate, disp_us, exact))
        print(
            f"round {k + 1}: baseline {base_rate:,.0f} msg/s, adapter {base_us:,.0f} us CPU/msg"
            f" (simulator {base_sim_us:,.0f}); dispatch {rate:,.0f} msg/s, dispatcher {disp_us:,.0f} us CPU/SMS"
            f" (simulator {disp_sim_us:,.0f}); ratio {rate / base_rate:.2f}; queueing {n / queue_s:,.0f} recipients/s"
        )
        if not exact:
            print(f"  not exactly once: {progress}")
    ratio, baseline, base_us, rate, disp_us, _ = sorted(rounds)[len(rounds) // 2]
    exact = all(r[-1] for r in rounds)
    print(f"baseline (adapter, no DB): {baseline:,.0f} messages/s, client {base_us:,.0f} us CPU/msg (median round)")
    print(f"dispatch (SQLite):        {rate:,.0f} messages/s, dispatcher {disp_us:,.0f} us CPU/SMS (median round)")
    print(
        f"ratio dispatch/baseline:  {ratio:.2f} (median of {args.rounds}); CPU per SMS dispatcher/adapter: {disp_us / base_us:.2f}"
    )
    results += [
        (f"simulator alone >= 3x dispatch ({sim_rate / rate:.1f}x)", sim_rate >= 3 * rate and ok_alone),
        (f"dispatch >= 0.60 of baseline (issue 11: {ratio:.2f})", ratio >= 0.60),
        (f"dispatch >= 500 messages/s (issue 11: {rate:,.0f})", rate >= 500),
        (f"dispatch >= 0.85 of baseline (issue 16: {ratio:.2f})", ratio >= 0.85),
        (f"dispatch >= 1,000 messages/s (issue 16: {rate:,.0f})", rate >= 1000),
        ("every message asked exactly once", exact),
    ]
    if args.postgresql:
        for workers in (1, 2):
            httpx.post(sim_base + "/_reset")
            pg_rate, pg_us, pg_exact = _postgresql(args, sim_base, sim_pid, workers, n)
            print(
                f"dispatch (PostgreSQL, {workers} worker process{'es' if workers > 1 else ''}): "
                f"{pg_rate:,.0f} messages/s, {pg_us:,.0f} us CPU/SMS (workers)"
            )
            results.append((f"PostgreSQL {workers} worker(s): every message asked exactly once", pg_exact))
    for name, passed in results:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(passed for _, passed in results) else 1


def _postgresql(args, sim_base: str, sim_pid: int, workers: int, n: int) -> tuple[float, float, bool]:
    """N messages by ``workers`` worker processes on a fresh PostgreSQL database."""
    import httpx
    from sqlalchemy import func
    from sqlmodel import Session, select

    from smspay_app import db
    from smspay_app.migrate import upgrade_database
    from smspay_app.models import SendAttempt
    from smspay_app.services import sending
    from smspay_app.settings import get_settings
    from tests import postgres
    from tests.factories import make_campaign, make_org

    server = postgres.start_server()
    try:
        url = server.url(server.create_database())
        os.environ["SMSPAY_DATABASE_URL"] = url
        get_settings.cache_clear()
        db.engine_for.cache_clear()
        upgrade_database()
        # The workers as deployed: every job's idle poll at the settings' default
        # (``worker_poll_seconds``; the rate is read from the database's
        # timestamps, so an idle worker's wait for its next poll is not counted,
        # but its polls' CPU is).
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "smspay_app.worker", "--batch-size", str(args.batch)]
        procs = [
            subprocess.Popen(
                [*cmd, "--concurrency", str(args.concurrency), "--log-level", "WARNING"], cwd=ROOT, env=env
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(4)  # imports and the first idle passes
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            with Session(db.get_engine(), expire_on_commit=False) as s:
                org = make_org(s, name="ベンチPG")
                campaign = make_campaign(s, org, recipients=n)
                sending.start_sending(s, campaign)
                s.commit()
            for _ in range(6000):
                with Session(db.get_engine()) as s:
                    progress = sending.sending_progress(s, campaign.id)
                if progress["sent"] + progress["failed"] + progress["unknown"] >= n:
                    break
                time.sleep(0.05)
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
            with Session(db.get_engine()) as s:
                first, last = s.exec(
                    select(func.min(SendAttempt.sending_at), func.max(SendAttempt.accepted_at)).where(
                        SendAttempt.campaign_id == campaign.id
                    )
                ).one()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        db.engine_for.cache_clear()
        stats = httpx.get(sim_base + "/_stats").json()
        exact = progress["sent"] == n and stats["messages"] == n and stats["max_asked"] == 1
        return n / max((last - first).total_seconds(), 1e-6), cpu / n * 1e6, exact
    finally:
        postgres.stop_server(server)


if __name__ == "__main__":
    raise SystemExit(main())
