"""Benchmark: the short link's GET (identity-check page) on a real server.

Starts uvicorn (1 worker, separate process) serving the web app's routes plus
a trivial route, on a fresh migrated SQLite database seeded with links; then
drives it from this process with a small keep-alive HTTP/1.1 load generator
(asyncio, raw sockets). Prints throughput and latency percentiles for the
trivial route (baseline, same server, same run) and for ``GET /l/{token}``
cycling over many different links (repeat visits within a minute are
recorded once, so this is mostly reads), and their ratio; then the first GET
of each of many fresh links (each also writes its ``visit`` timeline row).

Targets: >= 2,000 req/s and p99 <= 50 ms for the link's GET.

    python bench/bench_landing.py [--seconds 5] [--connections 32] [--links 500]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ server side


def serve(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from smspay_app.web.app import web_routes

    async def trivial(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/bench/trivial", trivial), *web_routes()])
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def seed(n_links: int) -> list[str]:
    from smspay_app.migrate import upgrade_database

    upgrade_database()
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.domain.answers import hash_answer, normalize_answer
    from smspay_app.models import Campaign, CampaignQuestion, IdentityAnswer, Organisation, Recipient
    from smspay_app.services.links import issue_link
    from smspay_app.settings import get_settings

    tokens = []
    with Session(get_engine()) as s:
        org = Organisation(name="ベンチ株式会社", support_phone="03-0000-0000")
        s.add(org)
        s.flush()
        camp = Campaign(organisation_id=org.id, name="bench", status="sending", page_title="ご請求")
        s.add(camp)
        s.flush()
        qs = [
            CampaignQuestion(campaign_id=camp.id, position=0, label="生年月日", column="birth", kind="date"),
            CampaignQuestion(campaign_id=camp.id, position=1, label="お客様番号", column="no", kind="digits"),
        ]
        s.add_all(qs)
        s.flush()
        key = get_settings().secret_key
        for i in range(n_links):
            r = Recipient(
                campaign_id=camp.id,
                organisation_id=org.id,
                phone_e164=f"+8190{i:08d}",
                amount_yen=1000 + i,
                status="delivered",
            )
            s.add(r)
            s.flush()
            for q, raw in zip(qs, ("1980-01-02", str(100000 + i))):
                s.add(
                    IdentityAnswer(
                        recipient_id=r.id,
                        question_id=q.id,
                        answer_hash=hash_answer(key, r.id, q.id, normalize_answer(raw, q.kind)),
                    )
                )
            _, token = issue_link(s, r, 72)
            tokens.append(token)
        s.commit()
    return tokens


# ------------------------------------------------------------------ client side


async def _worker(
    port: int,
    paths: list[str],
    offset: int,
    stop_at: float,
    lat: list[float],
    errors: list[int],
    limit: int | None = None,
):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at and (limit is None or i < offset + limit):
            path = paths[i % len(paths)]
            i += 1
            req = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {BROWSER_UA}\r\n"
                "Accept-Language: ja\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(port: int, paths: list[str], seconds: float, connections: int) -> dict:
    lat: list[float] = []
    errors: list[int] = []
    # warm-up
    warm_stop = time.perf_counter() + 1.0
    await asyncio.gather(*(_worker(port, paths, k * 7, warm_stop, [], []) for k in range(connections)))
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(_worker(port, paths, k * 13, stop_at, lat, errors) for k in range(connections)))
    elapsed = time.perf_counter() - start
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    return {
        "rps": len(lat) / elapsed,
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "mean": statistics.fmean(lat) * 1000,
        "n": len(lat),
        "errors": len(errors),
    }


async def _once_each(port: int, paths: list[str], connections: int) -> dict:
    """Each path fetched exactly once (first visits: each writes a timeline row)."""
    lat: list[float] = []
    errors: list[int] = []
    per = len(paths) // connections
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(port, paths, k * per, start + 60, lat, errors, limit=per) for k in range(connections))
    )
    elapsed = time.perf_counter() - start
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    return {
        "rps": len(lat) / elapsed,
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "mean": statistics.fmean(lat) * 1000,
        "n": len(lat),
        "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--first-visits", type=int, default=3200)
    parser.add_argument(
        "--prod",
        action="store_true",
        help="measure the real production server (reflex run --env prod --single-port); baseline: its /ping",
    )
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    tmp = tempfile.mkdtemp(prefix="bench_landing_")
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
    all_tokens = seed(args.links + args.first_visits)
    tokens, fresh = all_tokens[: args.links], all_tokens[args.links :]
    if args.prod:
        env.update(
            {"REFLEX_USE_SYSTEM_BUN": "1", "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false"}
        )
        reflex = str(Path(sys.executable).parent / "reflex")
        server = subprocess.Popen(
            [
                reflex,
                "run",
                "--env",
                "prod",
                "--single-port",
                "--frontend-port",
                str(port),
                "--backend-port",
                str(port),
                "--loglevel",
                "warning",
            ],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        baseline_path, server_name = "/ping", "reflex prod single-port (granian)"
    else:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env, cwd=str(ROOT))
        baseline_path, server_name = "/bench/trivial", "uvicorn 1 worker"
    try:
        deadline = time.time() + (300 if args.prod else 20)
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(f"GET {baseline_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if b" 200 " in conn.recv(64):
                        break
                time.sleep(0.2)
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("server did not start")
                time.sleep(0.1)
        trivial = asyncio.run(_load(port, [baseline_path], args.seconds, args.connections))
        landing = asyncio.run(_load(port, [f"/l/{t}" for t in tokens], args.seconds, args.connections))
        unknown = asyncio.run(_load(port, ["/l/AAAAAAAAAAAAAAAAAAAAAA"], args.seconds, args.connections))
        first = asyncio.run(_once_each(port, [f"/l/{t}" for t in fresh], args.connections))
    finally:
        if args.prod:
            os.killpg(server.pid, 15)
        else:
            server.terminate()
        server.wait(timeout=30)

    def line(name, r):
        return (
            f"{name:<34} {r['rps']:>8.0f} req/s   p50 {r['p50']:6.1f} ms   p95 {r['p95']:6.1f} ms   "
            f"p99 {r['p99']:6.1f} ms   n={r['n']} non-200={r['errors']}"
        )

    print(
        f"{server_name}, {args.connections} keep-alive connections, {args.seconds:.0f} s each, "
        f"{os.cpu_count()} CPUs, SQLite, {args.links} links"
    )
    print(line(f"baseline GET {baseline_path}", trivial))
    print(line("GET /l/{token} (identity page)", landing))
    print(line("GET /l/{unknown} (404 page)", unknown))
    print(line("first GET of each link (+ visit row)", first))
    print(f"ratio landing/trivial throughput: {landing['rps'] / trivial['rps']:.2f}")
    ok = landing["rps"] >= 2000 and landing["p99"] <= 50
    print(f"target >= 2000 req/s and p99 <= 50 ms: {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
