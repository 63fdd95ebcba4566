"""Recipient import throughput (issue 16, item 3): a generated 100,000-row CSV
(Shift_JIS, Japanese headers, mixed phone formats, an identity question, a few
bad/duplicate/opted-out rows) imported end to end (decode, parse, validate,
insert recipients + hashed answers + timeline events, commit) into a fresh
migrated SQLite database (``SMSPAY_DATABASE_URL`` to use another). The import
runs in a child process that reads the file from disk, so its CPU time per row
(the child's own counters) and its peak RSS are its own. Printed beside a bare
``csv`` module parse of the same file in the same run (rows/s and CPU per
row), as a ratio.

Targets: >= 50,000 rows/s end to end and <= 12x the bare parse's time;
``--rows 1000000``: peak RSS of the importing process < 400 MB.

    python bench/bench_import.py [rows] [--rows-memory 1000000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, peak_rss_mb, verdict  # noqa: E402

TARGET_ROWS_PER_S = 50_000
TARGET_RATIO = 12.0
TARGET_PEAK_RSS_MB = 400.0


def generate(rows: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    surnames = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
    given = ["太郎", "花子", "一郎", "次郎", "さくら", "健", "陽菜", "翔"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["顧客番号", "氏名", "携帯番号", "請求金額", "支払期限", "生年月日", "郵便番号", "備考"])
    for i in range(rows):
        n = 10_000_000 + i  # distinct 8-digit subscriber part
        prefix = ("090", "080", "070")[i % 3]
        sub = f"{n % 100_000_000:08d}"
        style = i % 5
        if style == 0:
            phone = f"{prefix}-{sub[:4]}-{sub[4:]}"
        elif style == 1:
            phone = f"{prefix}{sub}"
        elif style == 2:
            phone = f"+81 {prefix[1:]} {sub[:4]} {sub[4:]}"
        elif style == 3:
            phone = "".join(
                chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in f"{prefix}-{sub[:4]}-{sub[4:]}"
            ).replace("-", "－")
        else:
            phone = f"({prefix}) {sub[:4]} {sub[4:]}"
        if i % 1000 == 999:
            phone = "03-1234-5678"  # landline: rejected
        y = 1950 + i % 50
        birth = (
            f"{y}/{i % 12 + 1}/{i % 28 + 1}",
            f"昭和{y - 1925}年{i % 12 + 1}月{i % 28 + 1}日" if y >= 1927 else f"{y}-01-02",
            f"{y}{i % 12 + 1:02d}{i % 28 + 1:02d}",
        )[i % 3]
        w.writerow(
            [
                f"C{i:07d}",
                f"{rnd.choice(surnames)} {rnd.choice(given)}",
                phone,
                f"{rnd.randint(1, 50) * 100:,}円" if i % 2 else str(rnd.randint(1, 50) * 100),
                "2025/06/30" if i % 4 else "",
                birth,
                f"{100 + i % 900:03d}-{i % 10000:04d}",
                "いつもありがとうございます" if i % 7 == 0 else "",
            ]
        )
    return out.getvalue().encode("cp932")


def child(path: str, rows: int) -> None:
    """The import itself, in its own process: reads the file, imports it,
    prints one JSON line (wall, CPU, peak RSS, counts)."""
    from sqlmodel import Session, func, select

    from smspay_app.db import get_engine
    from smspay_app.migrate import upgrade_database
    from smspay_app.models import (
        Campaign,
        CampaignQuestion,
        IdentityAnswer,
        OptOut,
        Organisation,
        Recipient,
        TimelineEvent,
    )
    from smspay_app.services.imports import import_recipients_csv

    upgrade_database()
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        org = Organisation(name="Bench", sender_name="ベンチ商事")
        session.add(org)
        session.flush()
        camp = Campaign(
            organisation_id=org.id,
            name="bench",
            amount_yen=1000,
            due_date=date(2025, 6, 30),
            sms_template="{{氏名}}様 ご請求のお知らせ",
        )
        session.add(camp)
        session.flush()
        session.add(CampaignQuestion(campaign_id=camp.id, label="生年月日", column="birth_date", kind="date"))
        for i in range(0, rows, 5000):  # a few opted-out numbers
            session.add(
                OptOut(organisation_id=org.id, phone_e164=f"+81{('90', '80', '70')[i % 3]}{10_000_000 + i:08d}")
            )
        session.commit()
        rss_before = peak_rss_mb()
        data = Path(path).read_bytes()
        ticks: list[tuple[int, int]] = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        report = import_recipients_csv(
            session,
            camp,
            data,
            filename="bench.csv",
            progress=lambda d, t: ticks.append((d, t)),
            max_bytes=1 << 31,
            max_rows=rows,
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        counts = {
            "recipients": session.exec(select(func.count()).select_from(Recipient)).one(),
            "answers": session.exec(select(func.count()).select_from(IdentityAnswer)).one(),
            "events": session.exec(select(func.count()).select_from(TimelineEvent)).one(),
        }
    engine.dispose()
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": peak_rss_mb(),
                "rss_before_mb": rss_before,
                "status": report.status,
                "imported": report.imported_rows,
                "rejected": report.rejected_rows,
                "duplicates": report.duplicate_rows,
                "opted_out": report.opted_out_rows,
                "ticks": len(ticks),
                **counts,
            }
        )
    )


def run(rows: int, tmp: str) -> tuple[dict, float, float]:
    """Generate the file, parse it bare (baseline), import it in a child.
    Returns the child's figures and the baseline's wall and CPU seconds."""
    data = generate(rows)
    path = os.path.join(tmp, f"bench-{rows}.csv")
    Path(path).write_bytes(data)
    print(f"file: {rows:,} rows, {len(data) / 1e6:.1f} MB, Shift_JIS")
    # Baseline: the bare csv module over the same file (decode + split only).
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = sum(1 for _ in csv.reader(io.StringIO(data.decode("cp932"), newline=""))) - 1
    bare, bare_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert n == rows
    del data
    env = dict(os.environ)
    env.setdefault("SMSPAY_DATABASE_URL", f"sqlite:///{tmp}/bench-{rows}.db")
    env.setdefault("SMSPAY_SECRET_KEY", "bench-secret")
    env["SMSPAY_RUN_WORKER_IN_APP"] = "false"
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, str(rows)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1]), bare, bare_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    parser.add_argument("--rows-memory", type=int, default=0, help="also import a file this big; print its peak RSS")
    parser.add_argument(
        "--postgresql", action="store_true", help="import into a throwaway PostgreSQL server (tests/postgres.py)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    rows = args.rows
    tmp = tempfile.mkdtemp(prefix="smspay-bench-")
    pg = None
    if args.postgresql:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.postgres import start_server

        pg = start_server()
        os.environ["SMSPAY_DATABASE_URL"] = pg.url(pg.create_database())
    try:
        r, bare, bare_cpu = run(rows, tmp)
        print(
            f"import: status={r['status']} imported={r['imported']:,} rejected={r['rejected']:,} "
            f"duplicates={r['duplicates']:,} opted_out={r['opted_out']:,}"
        )
        print(
            f"db rows: recipients={r['recipients']:,} answers={r['answers']:,} timeline={r['events']:,}; "
            f"progress callbacks={r['ticks']}"
        )
        rate = rows / r["wall"]
        print(
            f"bare csv parse:          {bare:7.3f} s  ({rows / bare:>10,.0f} rows/s, CPU {bare_cpu * 1e6 / rows:5.1f} µs/row)"
        )
        print(
            f"import end to end:       {r['wall']:7.3f} s  ({rate:>10,.0f} rows/s, CPU {r['cpu'] * 1e6 / rows:5.1f} µs/row)"
        )
        print(f"ratio import / bare csv: {r['wall'] / bare:7.1f}x wall, {r['cpu'] / bare_cpu:5.1f}x CPU")
        print(f"peak RSS of the importing process: {r['peak_rss_mb']:.0f} MB")
        print(
            figure(
                f"import {rows:,} rows ({'PostgreSQL' if args.postgresql else 'SQLite'})",
                measured=f"{rate:,.0f} rows/s",
                baseline=f"bare csv {rows / bare:,.0f} rows/s",
                ratio=r["wall"] / bare,
                cpu=f"{r['cpu'] * 1e6 / rows:.1f} µs/row",
                target=f">= {TARGET_ROWS_PER_S:,} rows/s and <= {TARGET_RATIO:.0f}x the bare parse",
                ok=rate >= TARGET_ROWS_PER_S and r["wall"] / bare <= TARGET_RATIO,
            )
        )
        print(
            f"  rate >= {TARGET_ROWS_PER_S:,} rows/s: {verdict(rate >= TARGET_ROWS_PER_S)}; "
            f"ratio <= {TARGET_RATIO:.0f}x: {verdict(r['wall'] / bare <= TARGET_RATIO)}"
        )
        assert r["status"] == "done" and r["recipients"] == r["imported"]
        if args.rows_memory:
            m, _, _ = run(args.rows_memory, tmp)
            ok = m["peak_rss_mb"] < TARGET_PEAK_RSS_MB and m["status"] == "done"
            print(
                f"{args.rows_memory:,} rows: {m['status']}, imported {m['imported']:,} in {m['wall']:.1f} s "
                f"({args.rows_memory / m['wall']:,.0f} rows/s, CPU {m['cpu'] * 1e6 / args.rows_memory:.1f} µs/row); "
                f"peak RSS {m['peak_rss_mb']:.0f} MB (before reading the file {m['rss_before_mb']:.0f} MB); "
                f"target < {TARGET_PEAK_RSS_MB:.0f} MB: {verdict(ok)}"
            )
    finally:
        if pg is not None:
            from tests.postgres import stop_server

            stop_server(pg)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
