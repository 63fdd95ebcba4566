"""Benchmark (acceptance of issue 18, item 1): the lockout race, 20 runs of 50.

Runs ``tests/test_lockout_race.py`` with ``SMSPAY_RACE_RUNS=20``: 20 runs of 50
parallel wrong answers over real HTTP with the right one among them, 20 of 50
parallel one-time codes, 20 of 50 parallel TOTP codes across challenges. Each
run checks that the counter never exceeds the limit and that the right answer
never verifies once the limit is reached. Prints pytest's summary, then the
CPU time of the test process per parallel request (its own counters,
``RUSAGE_CHILDREN``) and PASS/FAIL (a correctness benchmark: no baseline).

    python bench/bench_lockout_race.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "SMSPAY_RACE_RUNS": str(args.runs)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_lockout_race.py"]
    t0 = time.perf_counter()
    code = subprocess.call(command, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = args.runs * 50 * 3  # answers, one-time codes, TOTP codes
    print(
        figure(
            f"lockout race, {args.runs} runs x 3 kinds x 50 parallel requests",
            measured=f"{'all runs held the limit' if code == 0 else 'a run went over the limit'} in {wall:.1f} s",
            baseline="- (correctness)",
            ratio=None,
            cpu=f"{(usage.ru_utime + usage.ru_stime) * 1e6 / requests:.0f} µs per request (test process, server in it)",
            target="counter never over the limit, right answer never after it",
            ok=code == 0,
        )
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
