"""Dispatch on the multi-process layout (issue 17): N messages sent by 1 and
then 2 ``python -m smspay_app.worker`` processes on a real PostgreSQL server
(tests/postgres.py starts one on a free port), to the SMS simulator in its own
process over loopback HTTP. Prints, for each worker count, the rate (messages
per second from the first claim to the last outcome) and the workers' CPU per
message (user + system time of the worker processes, read from /proc before
they stop, divided by the messages).

    python bench/bench_scale_dispatch.py [--messages 2000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run(workers: int, messages: int, server, sim_base: str) -> tuple[float, float]:
    from sqlalchemy import text
    from sqlmodel import Session

    from smspay_app import db
    from smspay_app.migrate import upgrade_database
    from smspay_app.services import sending
    from smspay_app.settings import get_settings
    from tests.factories import make_campaign, make_org

    database = server.create_database()
    url = server.url(database)
    os.environ["SMSPAY_DATABASE_URL"] = url
    get_settings.cache_clear()
    db.engine_for.cache_clear()
    upgrade_database(url)
    with Session(db.get_engine(), expire_on_commit=False) as s:
        org = make_org(s, name="ベンチ")
        campaign = make_campaign(s, org, recipients=messages)
        sending.start_sending(s, campaign)
        s.commit()
    env = {
        **os.environ,
        "SMSPAY_DATABASE_URL": url,
        "SMSPAY_TWILIO_API_BASE": sim_base,
        "SMSPAY_SMS_RATE_PER_SECOND": "1000000",
        "SMSPAY_SMS_CARRIER_LOOKUP": "false",
        "SMSPAY_WORKER_POLL_SECONDS": "0.05",
        "SMSPAY_RUN_WORKER_IN_APP": "false",
        "SMSPAY_DB_POOL_SIZE": "4",
        "SMSPAY_DB_MAX_OVERFLOW": "4",
    }
    procs = [
        subprocess.Popen([sys.executable, "-m", "smspay_app.worker", "--log-level", "WARNING"], cwd=ROOT, env=env)
        for _ in range(workers)
    ]
    engine = db.get_engine()
    started = time.perf_counter()
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM sendattempt WHERE status IN ('queued', 'sending')")
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(p.pid) for p in procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        engine.dispose()
        db.engine_for.cache_clear()
        server.drop_database(database)
    return messages / elapsed, cpu / messages


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    os.environ.update(
        SMSPAY_PUBLIC_BASE_URL="http://127.0.0.1:9",
        SMSPAY_SECRET_KEY="bench",
        SMSPAY_RUN_WORKER_IN_APP="false",
    )
    import httpx

    from smspay_app.settings import get_settings
    from tests.helpers import start_simulator
    from tests.postgres import start_server, stop_server

    server = start_server()
    sim, sim_base = start_simulator(get_settings())
    try:
        httpx.post(sim_base + "/_control", json={"callbacks": False})
        print(f"messages: {args.messages} per run, PostgreSQL, simulator over loopback HTTP")
        for workers in args.workers:
            httpx.post(sim_base + "/_reset")
            rate, cpu = run(workers, args.messages, server, sim_base)
            print(f"{workers} worker(s): {rate:,.0f} messages/s, {cpu * 1000:.2f} ms worker CPU per message")
    finally:
        sim.terminate()
        sim.wait()
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
