"""Recipient import throughput: a generated 100,000-row CSV (Shift_JIS, Japanese
headers, mixed phone formats, an identity question, a few bad/duplicate/
opted-out rows) imported end to end (decode, parse, validate, insert
recipients + hashed answers + timeline events, commit) into a fresh migrated
SQLite database. Printed beside a bare ``csv`` module parse of the same file in
the same run, as a ratio. Target: >= 20,000 rows/s end to end.

    python bench/bench_import.py [rows]
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_ROWS_PER_S = 20_000


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


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = tempfile.mkdtemp(prefix="smspay-bench-")
    os.environ["SMSPAY_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ["SMSPAY_SECRET_KEY"] = "bench-secret"
    os.environ["SMSPAY_RUN_WORKER_IN_APP"] = "false"

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
    data = generate(rows)
    print(f"file: {rows:,} rows, {len(data) / 1e6:.1f} MB, Shift_JIS")

    # Baseline: the bare csv module over the same file (decode + split only).
    t0 = time.perf_counter()
    n = sum(1 for _ in csv.reader(io.StringIO(data.decode("cp932"), newline=""))) - 1
    bare = time.perf_counter() - t0
    assert n == rows

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

        ticks: list[tuple[int, int]] = []
        t0 = time.perf_counter()
        report = import_recipients_csv(
            session, camp, data, filename="bench.csv", progress=lambda d, t: ticks.append((d, t))
        )
        full = time.perf_counter() - t0

        recipients = session.exec(select(func.count()).select_from(Recipient)).one()
        answers = session.exec(select(func.count()).select_from(IdentityAnswer)).one()
        events = session.exec(select(func.count()).select_from(TimelineEvent)).one()

    rate = rows / full
    print(
        f"import: status={report.status} imported={report.imported_rows:,} rejected={report.rejected_rows:,} "
        f"duplicates={report.duplicate_rows:,} opted_out={report.opted_out_rows:,}"
    )
    print(
        f"db rows: recipients={recipients:,} answers={answers:,} timeline={events:,}; progress callbacks={len(ticks)}"
    )
    print(f"bare csv parse:          {bare:7.3f} s  ({rows / bare:>10,.0f} rows/s)")
    print(f"import end to end:       {full:7.3f} s  ({rate:>10,.0f} rows/s)")
    print(f"ratio import / bare csv: {full / bare:7.1f}x")
    verdict = "PASS" if rate >= TARGET_ROWS_PER_S else "FAIL"
    print(f"target >= {TARGET_ROWS_PER_S:,} rows/s: {verdict}")
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    assert report.status == "done" and recipients == report.imported_rows


if __name__ == "__main__":
    main()
