"""Shared pieces of the benchmarks under ``bench/`` (issue 16, item 1).

Absolute rates on the shared 2-core machine vary from run to run, so every
benchmark prints, beside its rate, the CPU time per unit of work of the
process under test, read from that process's own counters
(``time.process_time`` for this process, ``/proc/<pid>/stat`` for a server
child), the baseline measured in the same run, their ratio, and PASS/FAIL.

- ``CpuMeter``: CPU seconds of this process or of a child process.
- ``load`` / ``once_each``: the keep-alive HTTP/1.1 load generator (asyncio,
  raw sockets) that ``bench_landing.py`` and ``bench_sign_in_flood.py`` share.
- ``seed_links``: a migrated SQLite database with an organisation, a campaign
  (identity questions) and N recipients with a link each.
- ``figure`` / ``verdict``: the printed lines.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
_TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ CPU counters


def process_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of ``pid`` (``/proc/<pid>/stat``), or of this
    process (``time.process_time``) without one."""
    if pid is None or pid == os.getpid():
        return time.process_time()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (a server that runs
    worker processes, e.g. ``reflex run --env prod``)."""
    total = 0.0
    for child in _descendants(pid) | {pid}:
        try:
            total += process_cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass
class CpuMeter:
    """``with CpuMeter(pid) as cpu: ...`` then ``cpu.seconds``, ``cpu.wall``,
    ``cpu.per_unit_us(n)``. ``tree=True`` counts the process's descendants too."""

    pid: int | None = None
    tree: bool = False
    seconds: float = 0.0
    wall: float = 0.0
    _start: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def _read(self) -> float:
        if self.tree and self.pid is not None:
            return tree_cpu_seconds(self.pid)
        return process_cpu_seconds(self.pid)

    def __enter__(self) -> CpuMeter:
        self._start = (self._read(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = self._read() - self._start[0]
        self.wall = time.perf_counter() - self._start[1]

    def per_unit_us(self, units: int) -> float:
        return self.seconds * 1e6 / max(1, units)


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB: ``VmHWM`` (reset by
    exec; ``ru_maxrss`` is not, so a child would report its parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ printing


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def figure(name: str, *, measured: str, baseline: str, ratio: float | None, cpu: str, target: str, ok: bool) -> str:
    """One line a benchmark prints per figure, in the README table's order."""
    ratio_text = "-" if ratio is None else f"{ratio:.2f}"
    return (
        f"{name}: measured {measured}; baseline {baseline}; ratio {ratio_text}; CPU {cpu}; "
        f"target {target}: {verdict(ok)}"
    )


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(port: int, path: str = "/", *, tries: int = 200, pause: float = 0.1) -> None:
    """Until ``GET path`` answers 200 (counted tries, never a clock deadline)."""
    for _ in range(tries):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if b" 200 " in conn.recv(64):
                    return
        except OSError:
            pass
        time.sleep(pause)
    raise SystemExit(f"server on port {port} did not answer {path}")


def stop_server(server, *, group: bool = False) -> None:
    """SIGTERM (to its process group with ``group``), then SIGKILL if it is
    still there after 30 s (a loaded machine)."""
    import signal
    import subprocess

    try:
        if group:
            os.killpg(server.pid, signal.SIGTERM)
        else:
            server.terminate()
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(server.pid, signal.SIGKILL)
        else:
            server.kill()
        server.wait(timeout=30)
    except ProcessLookupError:
        pass


def bench_env(tmp: str, port: int) -> dict[str, str]:
    """The environment of a benchmark's server: its own SQLite file."""
    return {
        "SMSPAY_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        "SMSPAY_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SMSPAY_SECRET_KEY": "bench-secret",
        "SMSPAY_RUN_WORKER_IN_APP": "false",
    }


def seed_links(n_links: int, *, questions: tuple[tuple[str, str, str], ...] | None = None) -> list[str]:
    """A migrated database (``SMSPAY_DATABASE_URL``) with one organisation,
    one sending campaign with identity questions (label, column, kind) and
    ``n_links`` delivered recipients, each with its hashed answers and a
    72-hour link. Returns the links' tokens."""
    from smspay_app.migrate import upgrade_database

    upgrade_database()
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.domain.answers import hash_answer, normalize_answer
    from smspay_app.models import Campaign, CampaignQuestion, IdentityAnswer, Organisation, Recipient
    from smspay_app.services.links import issue_link
    from smspay_app.settings import get_settings

    if questions is None:
        questions = (("生年月日", "birth", "date"), ("お客様番号", "no", "digits"))
    samples = {"date": lambda i: "1980-01-02", "digits": lambda i: str(100000 + i)}
    tokens = []
    with Session(get_engine()) as s:
        org = Organisation(name="ベンチ株式会社", support_phone="03-0000-0000")
        s.add(org)
        s.flush()
        camp = Campaign(organisation_id=org.id, name="bench", status="sending", page_title="ご請求")
        s.add(camp)
        s.flush()
        qs = [
            CampaignQuestion(campaign_id=camp.id, position=k, label=label, column=column, kind=kind)
            for k, (label, column, kind) in enumerate(questions)
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
            for q in qs:
                raw = samples.get(q.kind, lambda i: f"answer-{i}")(i)
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


# ------------------------------------------------------------------ load generator


async def keep_alive_worker(
    port: int,
    paths: list[str],
    offset: int,
    lat: list[float],
    statuses: list[int],
    *,
    until: Callable[[], bool],
    limit: int | None = None,
    pause: float = 0.0,
    user_agent: str = BROWSER_UA,
) -> None:
    """One keep-alive connection sending GETs of ``paths`` (from ``offset``,
    cycling) until ``until()`` or ``limit`` requests; latencies (seconds) to
    ``lat``, every non-200 status to ``statuses``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while not until() and (limit is None or i < offset + limit):
            path = paths[i % len(paths)]
            i += 1
            req = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {user_agent}\r\n"
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
                statuses.append(status)
            if pause:
                await asyncio.sleep(pause)
    finally:
        writer.close()


def summary(lat: list[float], elapsed: float, statuses: list[int], cpu: CpuMeter | None = None) -> dict:
    """Throughput, latency percentiles (ms) and the server's CPU per request (µs)."""
    ordered = sorted(lat)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else float("nan")

    return {
        "rps": len(lat) / elapsed if elapsed else 0.0,
        "p50": q(0.50),
        "p95": q(0.95),
        "p99": q(0.99),
        "max": ordered[-1] * 1000 if ordered else float("nan"),
        "mean": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "n": len(lat),
        "errors": len(statuses),
        "cpu_us": cpu.per_unit_us(len(lat)) if cpu else float("nan"),
    }


async def _load(port: int, paths: list[str], seconds: float, connections: int, server_pid: int | None, tree: bool):
    # Every path once first: a link's first GET writes its visit row (measured
    # on its own by ``once_each``), so none of those writes falls in the window.
    await _once_each(port, paths, connections, None, False)
    warm_stop = time.perf_counter() + 1.0
    await asyncio.gather(
        *(
            keep_alive_worker(port, paths, k * 7, [], [], until=lambda: time.perf_counter() >= warm_stop)
            for k in range(connections)
        )
    )
    lat: list[float] = []
    statuses: list[int] = []
    with CpuMeter(server_pid, tree=tree) as cpu:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                keep_alive_worker(port, paths, k * 13, lat, statuses, until=lambda: time.perf_counter() >= stop_at)
                for k in range(connections)
            )
        )
    return summary(lat, cpu.wall, statuses, cpu)


def load(
    port: int, paths: list[str], seconds: float, connections: int, server_pid: int | None = None, *, tree: bool = False
) -> dict:
    """``connections`` keep-alive connections cycling over ``paths`` for
    ``seconds`` (after a 1-second warm-up), the server's CPU counted."""
    return asyncio.run(_load(port, paths, seconds, connections, server_pid, tree))


async def _once_each(port: int, paths: list[str], connections: int, server_pid: int | None, tree: bool):
    lat: list[float] = []
    statuses: list[int] = []
    per = -(-len(paths) // connections)  # every path, none twice: the last share may be shorter
    shares = [paths[k * per : (k + 1) * per] for k in range(connections)]
    with CpuMeter(server_pid, tree=tree) as cpu:
        await asyncio.gather(
            *(
                keep_alive_worker(port, share, 0, lat, statuses, until=lambda: False, limit=len(share))
                for share in shares
                if share
            )
        )
    return summary(lat, cpu.wall, statuses, cpu)


def once_each(
    port: int, paths: list[str], connections: int, server_pid: int | None = None, *, tree: bool = False
) -> dict:
    """Each path fetched exactly once, spread over ``connections``."""
    return asyncio.run(_once_each(port, paths, connections, server_pid, tree))


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
