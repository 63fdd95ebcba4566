"""Dispatch throughput against the SMS simulator over loopback HTTP.

The simulator runs in its own process (as a real provider would). Two figures,
measured in the same run with the same HTTP client settings:

- baseline: the Twilio adapter posting N messages straight to the simulator
  (bounded concurrency, one httpx.AsyncClient), no database work at all;
- dispatch: the real dispatcher on SQLite (claim with lease, link issued and
  text rendered per message, attempt committed as ``sending`` before the call,
  outcome recorded), N recipients queued by ``start_sending``.

Targets: dispatch >= 500 messages/s sustained, dispatch/baseline >= 0.6.

    python bench/bench_dispatch.py [--messages 5000] [--batch 200] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
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
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(sim_base + "/_stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        httpx.post(sim_base + "/_control", json={"callbacks": False})
        return asyncio.run(_bench(args, settings, sim_base))
    finally:
        sim.terminate()
        sim.wait()


async def _bench(args, settings, sim_base: str) -> int:
    import httpx
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.migrate import upgrade_database
    from smspay_app.providers.sms.base import SendRequest, get_sms_provider
    from smspay_app.services import sending
    from smspay_app.worker.dispatcher import Dispatcher

    sys.path.insert(0, str(ROOT))
    from tests.factories import make_campaign, make_org

    n = args.messages
    upgrade_database()

    # Warm-up (connections, imports) for both paths.
    provider = get_sms_provider(settings)
    await provider.send(SendRequest(to="+819000000000", sender="SMSPAY", body="warm-up"))

    # --- baseline: the same client, straight to the simulator, no DB.
    sem = asyncio.Semaphore(args.concurrency)

    async def one(i: int):
        async with sem:
            await provider.send(
                SendRequest(
                    to=f"+8190{20000000 + i:08d}",
                    sender="SMSPAY",
                    body=f"【ベンチ】顧客{i}様 ご請求のお知らせです http://127.0.0.1:9/l/{'x' * 22}",
                    status_callback="http://127.0.0.1:9/webhooks/twilio/status?ref=x",
                )
            )

    t0 = time.perf_counter()
    for start in range(0, n, args.batch):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + args.batch))))
    baseline = n / (time.perf_counter() - t0)
    await provider.aclose()
    httpx.post(sim_base + "/_reset")

    # --- dispatch through the database.
    with Session(get_engine(), expire_on_commit=False) as s:
        org = make_org(s, name="ベンチ")
        campaign = make_campaign(s, org, recipients=n)
        t_queue = time.perf_counter()
        sending.start_sending(s, campaign)
        s.commit()
        queue_s = time.perf_counter() - t_queue
    dispatcher = Dispatcher(batch_size=args.batch, concurrency=args.concurrency, lookup_carriers=False)
    t0 = time.perf_counter()
    sent = await dispatcher.run_forever(until_idle=True)
    elapsed = time.perf_counter() - t0
    await dispatcher.aclose()
    rate = sent / elapsed
    stats = httpx.get(sim_base + "/_stats").json()
    with Session(get_engine()) as s:
        progress = sending.sending_progress(s, campaign.id)

    ratio = rate / baseline
    print(f"messages:                 {n} (batch {args.batch}, concurrency {args.concurrency})")
    print(f"start_sending (queueing): {queue_s:.2f} s ({n / queue_s:,.0f} recipients/s)")
    print(f"baseline (no DB):         {baseline:,.0f} messages/s")
    print(f"dispatch (SQLite):        {rate:,.0f} messages/s  ({sent} sent in {elapsed:.2f} s)")
    print(f"ratio dispatch/baseline:  {ratio:.2f}  (target >= 0.60)")
    print(f"simulator: {stats['messages']} messages, max asked per message {stats['max_asked']}")
    print(f"progress: {progress}")
    ok = rate >= 500 and ratio >= 0.6 and stats["messages"] == n and stats["max_asked"] == 1
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
