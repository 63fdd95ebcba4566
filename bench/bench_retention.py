"""Retention erase throughput: a completed campaign with N recipients (each
with an identity answer and every 10th with an SMS reply) in a fresh migrated
SQLite database, erased by ``services.retention.erase_due`` (set-based SQL).
Baseline in the same run: the same erase done row by row through the ORM on
an identical copy of the database. Target: 100,000 recipients in < 10 s.

    python bench/bench_retention.py [recipients]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure  # noqa: E402

TARGET_SECONDS_PER_100K = 10.0
CPU: dict[str, float] = {}  # CPU seconds of the last set-based / row-by-row erase


def build(db_path: Path, n: int) -> None:
    from sqlalchemy import create_engine, text

    from smspay_app.migrate import upgrade_database

    url = f"sqlite:///{db_path}"
    upgrade_database(url)
    engine = create_engine(url)
    ended = "2026-01-01 00:00:00"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO organisation (id, name, sender_name, sender_id, timezone, default_region, allow_foreign_numbers, quiet_hours_start, quiet_hours_end, support_phone, segment_price_yen, carrier_char_cap, require_totp, data_retention_days, created_at) VALUES (1, 'B', '', '', 'Asia/Tokyo', 'JP', 0, '00:00', '00:00', '', 10, 660, 0, 30, :t)"
            ),
            {"t": ended},
        )
        c.execute(
            text(
                "INSERT INTO campaign (id, organisation_id, name, status, sms_template, page_title, page_message, payment_enabled, amount_yen, ask_read_confirmation, verification_mode, max_wrong_answers, link_lifetime_hours, reminder_rules, reminder_template, created_at, updated_at, completed_at) VALUES (1, 1, 'c', 'completed', '', '', '', 1, 1000, 0, 'questions', 5, 72, '[]', '', :t, :t, :t)"
            ),
            {"t": ended},
        )
        c.execute(
            text(
                "INSERT INTO campaignquestion (id, campaign_id, position, label, \"column\", kind) VALUES (1, 1, 0, 'q', 'q', 'date')"
            )
        )
        c.execute(
            text(
                "INSERT INTO recipient (id, campaign_id, organisation_id, phone_e164, name, merge_data, amount_yen, external_ref, carrier, status, failed_answer_count, created_at) VALUES (:id, 1, 1, :p, '山田 太郎', '{\"name\": \"山田 太郎\"}', 1000, 'C-1', '', 'delivered', 0, :t)"
            ),
            [{"id": i, "p": f"+8190{i:08d}", "t": ended} for i in range(1, n + 1)],
        )
        c.execute(
            text("INSERT INTO identityanswer (recipient_id, question_id, answer_hash) VALUES (:id, 1, 'h')"),
            [{"id": i} for i in range(1, n + 1)],
        )
        c.execute(
            text(
                "INSERT INTO inboundmessage (organisation_id, recipient_id, from_phone, to_phone, body, is_opt_out, received_at) VALUES (1, :id, '+81', '', 'hello', 0, :t)"
            ),
            [{"id": i, "t": ended} for i in range(1, n + 1, 10)],
        )
    engine.dispose()


def set_based(db_path: Path, now: datetime) -> tuple[float, int]:
    from sqlmodel import Session

    from smspay_app.db import engine_for
    from smspay_app.services.retention import erase_due

    with Session(engine_for(f"sqlite:///{db_path}")) as s:
        t0, c0 = time.perf_counter(), time.process_time()
        done = erase_due(s, now)
        CPU["set"] = time.process_time() - c0
        return time.perf_counter() - t0, sum(d.recipients for d in done)


def row_by_row(db_path: Path, now: datetime) -> tuple[float, int]:
    from sqlmodel import Session, select

    from smspay_app.db import engine_for
    from smspay_app.models import IdentityAnswer, InboundMessage, Recipient

    with Session(engine_for(f"sqlite:///{db_path}")) as s:
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for r in s.exec(select(Recipient).where(Recipient.campaign_id == 1, Recipient.erased_at.is_(None))).all():
            r.phone_e164, r.name, r.merge_data, r.external_ref, r.erased_at = f"erased-{r.id}", "", "{}", "", now
            for a in s.exec(select(IdentityAnswer).where(IdentityAnswer.recipient_id == r.id)).all():
                s.delete(a)
            for m in s.exec(select(InboundMessage).where(InboundMessage.recipient_id == r.id)).all():
                m.body = ""
            n += 1
        s.commit()
        CPU["row"] = time.process_time() - c0
        return time.perf_counter() - t0, n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    os.environ.setdefault("SMSPAY_SECRET_KEY", "bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    try:
        a, b = tmp / "a.db", tmp / "b.db"
        build(a, n)
        shutil.copy(a, b)
        now = datetime(2026, 1, 1) + timedelta(days=31)
        t_set, erased = set_based(a, now)
        baseline_n = min(n, 20_000)  # the row-by-row baseline is slow: time a slice, scale linearly
        if baseline_n < n:
            from sqlalchemy import create_engine, text

            e = create_engine(f"sqlite:///{b}")
            with e.begin() as c:
                c.execute(text("UPDATE recipient SET erased_at = '2026-01-01' WHERE id > :k"), {"k": baseline_n})
            e.dispose()
        t_row, n_row = row_by_row(b, now)
        t_row_scaled = t_row * n / n_row
        per_100k = t_set * 100_000 / n
        print(f"recipients erased:        {erased:,}")
        print(f"set-based (erase_due):    {t_set:.2f} s  ({erased / t_set:,.0f} recipients/s)")
        print(
            f"row-by-row ORM baseline:  {t_row:.2f} s for {n_row:,}  (~{t_row_scaled:.1f} s for {n:,}; {n_row / t_row:,.0f}/s)"
        )
        print(f"speed-up:                 {t_row_scaled / t_set:.1f}x")
        print(
            figure(
                f"retention erase of {erased:,} recipients",
                measured=f"{per_100k:.2f} s per 100k ({erased / t_set:,.0f}/s)",
                baseline=f"row-by-row ORM {n_row / t_row:,.0f}/s (CPU {CPU['row'] * 1e6 / n_row:.0f} µs/recipient)",
                ratio=t_set / t_row_scaled,
                cpu=f"{CPU['set'] * 1e6 / max(1, erased):.1f} µs/recipient",
                target=f"100k in < {TARGET_SECONDS_PER_100K:.0f} s",
                ok=per_100k < TARGET_SECONDS_PER_100K,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
