"""Benchmark (issue 18, item 5): recipient pages during a sign-in flood.

Starts uvicorn (1 worker, separate process) serving the web app's routes plus
``POST /bench/sign-in``, which runs the admin sign-in's password step exactly
as the sign-in form's route does (``web.session_cookie.sign_in``: through
``auth.password_gate``, off the event loop, within the global budget; with
``--on-loop``, the old way: on the event loop). The app's default argon2
costs. Then floods it with 240 sign-ins (8 "tabs" x 30, each from a new
random address: the per-address throttle never applies) while probing
``GET /l/{token}`` (recipient identity pages), and prints the probe's
latency percentiles before and during the flood, and how the sign-ins ended.

Target: recipient pages p95 <= 50 ms during the flood.

    python bench/bench_sign_in_flood.py [--tabs 8] [--per-tab 30] [--on-loop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, on_loop: bool) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from smspay_app.db import session_scope
    from smspay_app.services import auth
    from smspay_app.web.app import web_routes

    def password_step(email: str, password: str) -> str:
        with session_scope() as session:
            step = auth.sign_in_start(session, email, password)
        return "wrong" if step is None else step.kind

    async def sign_in(request: Request):
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        if on_loop:
            return PlainTextResponse(password_step(email, password))
        try:
            return PlainTextResponse(await auth.password_gate.run(password_step, email, password))
        except auth.SignInBusy:
            return PlainTextResponse("busy", status_code=503)

    app = Starlette(routes=[Route("/bench/sign-in", sign_in, methods=["POST"]), *web_routes()])
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def seed(n_links: int) -> list[str]:
    from smspay_app.migrate import upgrade_database

    upgrade_database()
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.models import Campaign, CampaignQuestion, Organisation, Recipient
    from smspay_app.services.links import issue_link

    tokens = []
    with Session(get_engine()) as s:
        org = Organisation(name="ベンチ株式会社", support_phone="03-0000-0000")
        s.add(org)
        s.flush()
        camp = Campaign(organisation_id=org.id, name="bench", status="sending", page_title="ご請求")
        s.add(camp)
        s.flush()
        s.add(CampaignQuestion(campaign_id=camp.id, position=0, label="生年月日", column="birth", kind="date"))
        for i in range(n_links):
            r = Recipient(
                campaign_id=camp.id,
                organisation_id=org.id,
                phone_e164=f"+8190{i:08d}",
                amount_yen=1000,
                status="delivered",
            )
            s.add(r)
            s.flush()
            tokens.append(issue_link(s, r, 72)[1])
        s.commit()
    return tokens


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def probe(client, tokens: list[str], stop: asyncio.Event, lat: list[float]) -> None:
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        r = await client.get(f"/l/{tokens[i % len(tokens)]}", headers={"User-Agent": BROWSER_UA})
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.status_code
        i += 1
        await asyncio.sleep(0.01)


async def flood_run(base: str, tokens: list[str], tabs: int, per_tab: int) -> dict:
    import httpx

    outcomes: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await client.get(f"/l/{tokens[0]}", headers={"User-Agent": BROWSER_UA})  # warm-up
        quiet: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(probe(client, tokens, stop, quiet))
        await asyncio.sleep(2)
        stop.set()
        await task

        during: list[float] = []
        stop = asyncio.Event()
        probes = [asyncio.create_task(probe(client, tokens, stop, during))]  # as before the flood

        async def tab() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=60) as own:
                for _ in range(per_tab):
                    email = f"{uuid.uuid4().hex[:12]}@example.com"  # a new address each time
                    r = await own.post("/bench/sign-in", data={"email": email, "password": "wrong-password-123"})
                    outcomes[r.text] = outcomes.get(r.text, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(tab() for _ in range(tabs)))
        flood_seconds = time.perf_counter() - t0
        stop.set()
        await asyncio.gather(*probes)
    return {"quiet": quiet, "during": during, "outcomes": outcomes, "seconds": flood_seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tabs", type=int, default=8)
    parser.add_argument("--per-tab", type=int, default=30)
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--on-loop", action="store_true", help="the old way: argon2 on the event loop")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.on_loop)
        return
    tmp = tempfile.mkdtemp(prefix="bench_sign_in_")
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "SMSPAY_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "SMSPAY_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SMSPAY_SECRET_KEY": "bench-secret",
            "SMSPAY_RUN_WORKER_IN_APP": "false",
        }
    )
    os.environ.update(env)
    tokens = seed(args.links)
    command = [sys.executable, __file__, "--serve", str(port)] + (["--on-loop"] if args.on_loop else [])
    server = subprocess.Popen(command, env=env, cwd=str(ROOT))
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("server did not start") from None
                time.sleep(0.1)
        result = asyncio.run(flood_run(f"http://127.0.0.1:{port}", tokens, args.tabs, args.per_tab))
    finally:
        server.terminate()
        server.wait(timeout=30)
    quiet, during = result["quiet"], result["during"]
    mode = "argon2 on the event loop (old)" if args.on_loop else "auth.password_gate (off the loop, budget)"
    print(f"{mode}; {args.tabs} tabs x {args.per_tab} sign-ins from random addresses; {os.cpu_count()} CPUs")
    print(
        f"recipient GET /l/{{token}} before the flood: p50 {statistics.median(quiet):6.1f} ms  "
        f"p95 {pct(quiet, 95):6.1f} ms  max {max(quiet):6.1f} ms  n={len(quiet)}"
    )
    print(
        f"recipient GET /l/{{token}} during the flood: p50 {statistics.median(during):6.1f} ms  "
        f"p95 {pct(during, 95):6.1f} ms  max {max(during):6.1f} ms  n={len(during)}"
    )
    print(f"sign-ins ({sum(result['outcomes'].values())} in {result['seconds']:.1f} s): {result['outcomes']}")
    ok = pct(during, 95) <= 50
    print(f"target recipient p95 <= 50 ms during the flood: {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
