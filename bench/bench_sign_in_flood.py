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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT,
    CpuMeter,
    bench_env,
    figure,
    free_port,
    keep_alive_worker,
    pct,
    seed_links,
    stop_server,
    wait_for_http,
)

TARGET_P95_MS = 50.0


def serve(port: int, on_loop: bool) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from smspay_app.db import session_scope
    from smspay_app.services import auth
    from smspay_app.web.app import build_web_app

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

    app = build_web_app()  # the production routes and middleware
    app.router.routes.insert(0, Route("/bench/sign-in", sign_in, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


async def probe(port: int, tokens: list[str], stop: asyncio.Event, lat: list[float]) -> None:
    """Recipient identity pages, one at a time with 10 ms pauses (the shared
    keep-alive load generator); latencies in ms to ``lat``."""
    seconds: list[float] = []
    statuses: list[int] = []
    try:
        await keep_alive_worker(port, [f"/l/{t}" for t in tokens], 0, seconds, statuses, until=stop.is_set, pause=0.01)
    finally:
        lat.extend(x * 1000 for x in seconds)
    assert not statuses, statuses[:5]


async def flood_run(port: int, server_pid: int, tokens: list[str], tabs: int, per_tab: int) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}"
    outcomes: dict[str, int] = {}
    quiet: list[float] = []
    stop = asyncio.Event()
    with CpuMeter(server_pid) as quiet_cpu:
        task = asyncio.create_task(probe(port, tokens, stop, quiet))
        await asyncio.sleep(2)
        stop.set()
        await task

    during: list[float] = []
    stop = asyncio.Event()
    flood_cpu = CpuMeter(server_pid).__enter__()
    probes = [asyncio.create_task(probe(port, tokens, stop, during))]  # as before the flood

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
    flood_cpu.__exit__(None, None, None)
    return {
        "quiet": quiet,
        "during": during,
        "outcomes": outcomes,
        "seconds": flood_seconds,
        "quiet_cpu": quiet_cpu,
        "flood_cpu": flood_cpu,
    }


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
    env.update(bench_env(tmp, port))
    os.environ.update(env)
    tokens = seed_links(args.links, questions=(("生年月日", "birth", "date"),))
    command = [sys.executable, __file__, "--serve", str(port)] + (["--on-loop"] if args.on_loop else [])
    server = subprocess.Popen(command, env=env, cwd=str(ROOT))
    try:
        wait_for_http(port, f"/l/{tokens[0]}", tries=300)
        result = asyncio.run(flood_run(port, server.pid, tokens, args.tabs, args.per_tab))
    finally:
        stop_server(server)
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
    sign_ins = sum(result["outcomes"].values())
    print(f"sign-ins ({sign_ins} in {result['seconds']:.1f} s): {result['outcomes']}")
    quiet_cpu, flood_cpu = result["quiet_cpu"], result["flood_cpu"]
    print(
        f"server CPU: before the flood {quiet_cpu.per_unit_us(len(quiet)):.0f} µs per page; during it "
        f"{flood_cpu.seconds * 1e3 / max(1, sign_ins):.0f} ms per sign-in (its pages included)"
    )
    print(
        figure(
            "recipient pages during the sign-in flood",
            measured=f"p95 {pct(during, 95):.1f} ms",
            baseline=f"p95 {pct(quiet, 95):.1f} ms before the flood",
            ratio=pct(during, 95) / pct(quiet, 95),
            cpu=f"{quiet_cpu.per_unit_us(len(quiet)):.0f} µs/page, {flood_cpu.seconds * 1e3 / max(1, sign_ins):.0f} ms/sign-in",
            target=f"p95 <= {TARGET_P95_MS:.0f} ms during the flood",
            ok=pct(during, 95) <= TARGET_P95_MS,
        )
    )


if __name__ == "__main__":
    main()
