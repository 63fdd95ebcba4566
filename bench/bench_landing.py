"""Benchmark (issue 16, item 2): the short link's GET on a real server.

Starts uvicorn (1 worker, separate process) serving the production web app
(``web.app.build_web_app``: the same routes and middleware as production)
with a trivial route added to it, on a fresh migrated SQLite database seeded
with links; then drives it from this process with the shared keep-alive
HTTP/1.1 load generator (``bench/_common.py``). For the trivial route (the
baseline, same server, same run), ``GET /l/{token}`` cycling over many
different links (repeat visits within a minute are recorded once, so this is
mostly reads), the 404 page of an unknown token, and the first GET of each of
many fresh links (each writes its ``visit`` timeline row), it prints
throughput, latency percentiles, the server's CPU per request (its own
counters, ``/proc/<pid>/stat``) and the ratio to the baseline.

Targets (issue 16): identity page >= 0.5 of the trivial route's throughput
with p99 <= 20 ms at 32 connections; 404 page >= 0.7; first visit >= 0.3.
``--prod`` measures the production server (``reflex run --env prod``)
against its ``/ping`` instead. ``--profile FILE`` writes the server's
cProfile stats (keep them out of the repository).

Each round measures the baseline and then each page (a shared machine's
speed drifts within a minute); a ratio is taken within its round and the
median of ``--rounds`` is reported. Before each load every link is fetched
once, so the identity page's figure is of repeat GETs only: a link's first
GET (its visit row written) is the first-visit figure.

    python bench/bench_landing.py [--seconds 5] [--connections 32] [--links 500] [--rounds 3] [--prod]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, bench_env, figure, free_port, load, once_each, seed_links, stop_server, wait_for_http  # noqa: E402

TARGET_IDENTITY_RATIO = 0.5
TARGET_IDENTITY_P99_MS = 20.0
TARGET_UNKNOWN_RATIO = 0.7
TARGET_FIRST_RATIO = 0.3


def serve(port: int, profile: str = "") -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from smspay_app.web.app import build_web_app

    async def trivial(request):
        return PlainTextResponse("ok")

    from smspay_app.web.recipient import _unknown_html, unknown_page

    async def same_bytes(request):
        """The 404 page's bytes and headers from a constant (no query, no
        rendering): what the server itself costs for a page that size."""
        if ("ja", "UTF-8") not in _unknown_html:
            unknown_page(request, "ja")
        from smspay_app.web.html import html_response

        return html_response(_unknown_html[("ja", "UTF-8")], 404)

    app = build_web_app()
    app.router.routes.insert(0, Route("/bench/trivial", trivial))  # behind the same middleware
    app.router.routes.insert(0, Route("/bench/same-bytes", same_bytes))
    if profile:  # uvicorn re-raises SIGTERM after its shutdown (no atexit): dumped on request
        import cProfile

        profiler = cProfile.Profile()

        async def dump(request):
            profiler.disable()
            profiler.dump_stats(profile)
            return PlainTextResponse("ok")

        app.router.routes.insert(0, Route("/bench/profile-dump", dump))
        profiler.enable()
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--first-visits", type=int, default=4800, help="fresh links, shared out over the rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of baseline and pages, alternating")
    parser.add_argument(
        "--prod",
        action="store_true",
        help="measure the real production server (reflex run --env prod --single-port); baseline: its /ping",
    )
    parser.add_argument("--profile", default="", help="write the server's cProfile stats to this file")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.profile)
        return

    tmp = tempfile.mkdtemp(prefix="bench_landing_")
    port = free_port()
    env = dict(os.environ)
    env.update(bench_env(tmp, port))
    os.environ.update(env)
    all_tokens = seed_links(args.links + args.first_visits)
    tokens, fresh = all_tokens[: args.links], all_tokens[args.links :]
    if args.prod:
        env.update(
            {"REFLEX_USE_SYSTEM_BUN": "1", "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false"}
        )
        reflex = str(Path(sys.executable).parent / "reflex")
        command = [
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
        ]
        server = subprocess.Popen(command, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, start_new_session=True)
        baseline_path, server_name, tree = "/ping", "reflex prod single-port (granian)", True
    else:
        command = [sys.executable, __file__, "--serve", str(port)] + (
            ["--profile", args.profile] if args.profile else []
        )
        server = subprocess.Popen(command, env=env, cwd=str(ROOT))
        baseline_path, server_name, tree = "/bench/trivial", "uvicorn 1 worker, production middleware", False
    # --rounds rounds, each measuring the baseline and every page one after
    # the other: a shared machine's speed drifts within a minute, so each
    # ratio is taken within its round and the median round is reported.
    shares = [fresh[k :: args.rounds] for k in range(args.rounds)]
    rounds = []
    try:
        wait_for_http(port, baseline_path, tries=3000 if args.prod else 200)
        run = lambda paths: load(port, paths, args.seconds, args.connections, server.pid, tree=tree)  # noqa: E731
        for share in shares:
            rounds.append(
                {
                    "trivial": run([baseline_path]),
                    "landing": run([f"/l/{t}" for t in tokens]),
                    "unknown": run(["/l/AAAAAAAAAAAAAAAAAAAAAA"]),
                    "same_bytes": None if args.prod else run(["/bench/same-bytes"]),
                    "first": once_each(port, [f"/l/{t}" for t in share], args.connections, server.pid, tree=tree),
                }
            )
        if args.profile and not args.prod:
            wait_for_http(port, "/bench/profile-dump", tries=1)
    finally:
        stop_server(server, group=args.prod)

    def line(name, r):
        return (
            f"{name:<38} {r['rps']:>7.0f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"CPU {r['cpu_us']:7.0f} µs/req  n={r['n']} non-200={r['errors']}"
        )

    print(
        f"{server_name}, {args.connections} keep-alive connections, {args.seconds:.0f} s per page, "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs, SQLite, {args.links} links, "
        f"{args.first_visits} fresh links for first visits"
    )
    for k, r in enumerate(rounds, 1):
        print(f"round {k}:")
        print(line(f"  baseline GET {baseline_path}", r["trivial"]))
        print(line("  GET /l/{token} (identity page)", r["landing"]))
        print(line("  GET /l/{unknown} (404 page)", r["unknown"]))
        print(line("  first GET of each link (+ visit row)", r["first"]))
        if r["same_bytes"] is not None:
            print(
                line("  (the 404 page's bytes from a constant)", r["same_bytes"])
                + "  <- the server's cost of the page size"
            )

    def median_round(page: str) -> tuple[dict, dict, float]:
        """The round whose ``page`` ratio is the median: (page, its baseline, ratio)."""
        ranked = sorted(rounds, key=lambda r: r[page]["rps"] / r["trivial"]["rps"])
        r = ranked[len(ranked) // 2]
        return r[page], r["trivial"], r[page]["rps"] / r["trivial"]["rps"]

    def base(trivial: dict) -> str:
        return f"{trivial['rps']:.0f} req/s, {trivial['cpu_us']:.0f} µs/req ({baseline_path})"

    def p99(page: str) -> float:
        """The median of the rounds' p99 of ``page``."""
        values = sorted(r[page]["p99"] for r in rounds)
        return values[len(values) // 2]

    landing, trivial, landing_ratio = median_round("landing")
    unknown, unknown_base, unknown_ratio = median_round("unknown")
    first, first_base, first_ratio = median_round("first")
    landing_p99, unknown_p99, first_p99 = p99("landing"), p99("unknown"), p99("first")
    print(f"median of {args.rounds} rounds (ratio within each round):")
    ok_identity = landing_ratio >= TARGET_IDENTITY_RATIO and landing_p99 <= TARGET_IDENTITY_P99_MS
    print(
        figure(
            "identity page",
            measured=f"{landing['rps']:.0f} req/s, p99 {landing_p99:.1f} ms",
            baseline=base(trivial),
            ratio=landing_ratio,
            cpu=f"{landing['cpu_us']:.0f} µs/req",
            target=f">= {TARGET_IDENTITY_RATIO} of baseline, p99 <= {TARGET_IDENTITY_P99_MS:.0f} ms",
            ok=ok_identity,
        )
    )
    print(
        figure(
            "404 page",
            measured=f"{unknown['rps']:.0f} req/s, p99 {unknown_p99:.1f} ms",
            baseline=base(unknown_base),
            ratio=unknown_ratio,
            cpu=f"{unknown['cpu_us']:.0f} µs/req",
            target=f">= {TARGET_UNKNOWN_RATIO} of baseline",
            ok=unknown_ratio >= TARGET_UNKNOWN_RATIO
            and all(r["unknown"]["errors"] == r["unknown"]["n"] for r in rounds),
        )
    )
    print(
        figure(
            "first visit (+ visit row)",
            measured=f"{first['rps']:.0f} req/s, p99 {first_p99:.1f} ms",
            baseline=base(first_base),
            ratio=first_ratio,
            cpu=f"{first['cpu_us']:.0f} µs/req",
            target=f">= {TARGET_FIRST_RATIO} of baseline",
            ok=first_ratio >= TARGET_FIRST_RATIO and all(r["first"]["errors"] == 0 for r in rounds),
        )
    )


if __name__ == "__main__":
    main()
