"""Benchmark (acceptance of issue 18, item 1): the lockout race, 20 runs of 50.

Runs ``tests/test_lockout_race.py`` with ``SMSPAY_RACE_RUNS=20``: 20 runs of 50
parallel wrong answers over real HTTP with the right one among them, 20 of 50
parallel one-time codes, 20 of 50 parallel TOTP codes across challenges. Each
run checks that the counter never exceeds the limit and that the right answer
never verifies once the limit is reached. Prints pytest's summary.

    python bench/bench_lockout_race.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "SMSPAY_RACE_RUNS": str(args.runs)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_lockout_race.py"]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
