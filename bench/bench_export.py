"""Recipient export throughput (issue 16, item 6): a campaign of 100,000
recipients (every step's timestamp set for most, some paid) in a fresh
migrated SQLite database, streamed through ``services.exports`` (keyset
batches, shown states, local times, neutralised cells, CSV, encoding) in
UTF-8 with BOM and in Shift_JIS (CP932), each consumed chunk by chunk as the
download would be. Printed beside the same run's baseline (the same rows read
with one bare SQL query and written with the ``csv`` module, UTF-8), with the
CPU time per row (``time.process_time``) and the growth of the peak RSS
while streaming (memory bounded: it must not grow with the campaign).

Targets: >= 50,000 rows/s in each encoding; the peak RSS grows < 50 MB.

    python bench/bench_export.py [recipients]
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, peak_rss_mb  # noqa: E402

TARGET_ROWS_PER_S = 50_000
TARGET_RSS_GROWTH_MB = 50.0


def seed(n: int) -> int:
    from sqlalchemy import insert, text
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.migrate import upgrade_database
    from smspay_app.models import Campaign, Organisation, Recipient

    upgrade_database()
    surnames = ["山田", "佐藤", "鈴木", "髙橋", "田中", "伊藤", "渡辺", "中村"]
    t0 = datetime(2030, 4, 1, 0, 0)
    with Session(get_engine()) as s:
        org = Organisation(name="ベンチ")
        s.add(org)
        s.flush()
        camp = Campaign(organisation_id=org.id, name="bench", status="sending")
        s.add(camp)
        s.flush()
        rows = []
        for i in range(n):
            at = t0 + timedelta(seconds=i)
            paid = i % 3 == 0
            rows.append(
                {
                    "campaign_id": camp.id,
                    "organisation_id": org.id,
                    "phone_e164": f"+8190{10_000_000 + i:08d}",
                    "name": f"{surnames[i % 8]} {'=x' if i % 50 == 0 else i}",
                    "merge_data": "{}",
                    "amount_yen": 1000 + i % 5000,
                    "external_ref": f"C{i:07d}",
                    "row_number": i + 2,
                    "status": "paid" if paid else "delivered",
                    "failed_answer_count": 0,
                    "created_at": at,
                    "queued_at": at,
                    "sent_at": at,
                    "delivered_at": at + timedelta(seconds=5),
                    "clicked_at": at + timedelta(minutes=30) if paid else None,
                    "verified_at": at + timedelta(minutes=31) if paid else None,
                    "paid_at": at + timedelta(minutes=32) if paid else None,
                }
            )
            if len(rows) == 10_000:
                s.execute(insert(Recipient), rows)
                rows = []
        if rows:
            s.execute(insert(Recipient), rows)
        s.commit()
        s.execute(text("ANALYZE"))
        return camp.id


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = tempfile.mkdtemp(prefix="bench-export-")
    os.environ["SMSPAY_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ["SMSPAY_SECRET_KEY"] = "bench"
    try:
        campaign_id = seed(n)
        from sqlmodel import Session

        from smspay_app.db import get_engine
        from smspay_app.services import exports

        def bare() -> tuple[float, float, int]:
            cpu0, t0 = time.process_time(), time.perf_counter()
            size = 0
            with get_engine().connect() as c:
                raw = c.connection.driver_connection
                out = io.StringIO()
                w = csv.writer(out, lineterminator="\r\n")
                cur = raw.execute(
                    "SELECT row_number, phone_e164, name, external_ref, amount_yen, due_date, status, sent_at,"
                    " delivered_at, clicked_at, verified_at, paid_at FROM recipient WHERE campaign_id = ? ORDER BY id",
                    (campaign_id,),
                )
                while batch := cur.fetchmany(2000):
                    w.writerows(batch)
                    size += len(out.getvalue().encode("utf-8"))
                    out.seek(0)
                    out.truncate()
            return time.perf_counter() - t0, time.process_time() - cpu0, size

        def stream(encoding: str) -> tuple[float, float, int, float]:
            rss0 = peak_rss_mb()
            cpu0, t0 = time.process_time(), time.perf_counter()
            size = 0
            with Session(get_engine(), expire_on_commit=False) as session:
                for chunk in exports.encode_csv(exports.iter_rows(session, campaign_id, "Asia/Tokyo", "ja"), encoding):
                    size += len(chunk)
            return time.perf_counter() - t0, time.process_time() - cpu0, size, peak_rss_mb() - rss0

        bare()  # warm the page cache
        b_wall, b_cpu, b_size = bare()
        print(
            f"{n:,} recipients; baseline bare SQL + csv (UTF-8): {n / b_wall:,.0f} rows/s, "
            f"CPU {b_cpu * 1e6 / n:.1f} µs/row, {b_size / 1e6:.1f} MB"
        )
        for encoding, label in (("utf-8-sig", "UTF-8"), ("cp932", "Shift_JIS")):
            wall, cpu, size, growth = stream(encoding)
            rate = n / wall
            print(
                figure(
                    f"export {label}",
                    measured=f"{rate:,.0f} rows/s ({size / 1e6:.1f} MB, peak RSS +{growth:.0f} MB)",
                    baseline=f"bare SQL + csv {n / b_wall:,.0f} rows/s",
                    ratio=wall / b_wall,
                    cpu=f"{cpu * 1e6 / n:.1f} µs/row",
                    target=f">= {TARGET_ROWS_PER_S:,} rows/s, peak RSS +< {TARGET_RSS_GROWTH_MB:.0f} MB",
                    ok=rate >= TARGET_ROWS_PER_S and growth < TARGET_RSS_GROWTH_MB,
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
