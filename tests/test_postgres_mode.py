"""The "outgrown one machine" mode on a real PostgreSQL server (started by
``tests/postgres.py``; nothing is mocked at the database): the migrations,
several worker processes claiming work with ``FOR UPDATE SKIP LOCKED``, the
maintained dashboard counters and series (upserts, ``date_trunc``), the
reminders' claim path (``INSERT ... ON CONFLICT DO NOTHING``) and the CSV
import's bulk insert with RETURNING.

``settings`` is overridden here, so every fixture of tests/conftest.py that
builds on it (``session``, ``live_server``) runs on PostgreSQL. Tests of the
SQLite suite marked ``@pytest.mark.also_on_postgresql`` run again on
PostgreSQL in their own modules (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, inspect, text
from sqlmodel import Session, SQLModel, select

import smspay_app.models  # noqa: F401  (registers every table)
from smspay_app import db
from smspay_app.migrate import alembic_config
from smspay_app.models import Recipient, SendAttempt
from smspay_app.services import auth, dashboard, sending, stats, timeline
from smspay_app.services.imports import import_recipients_csv
from smspay_app.settings import PROJECT_ROOT
from tests.factories import make_campaign, make_org
from tests.helpers import settings_for, start_simulator, worker_env


@pytest.fixture
def settings(postgres_url, monkeypatch):
    """As in tests/conftest.py, on a fresh PostgreSQL database."""
    yield from settings_for(monkeypatch, postgres_url)


def test_settings_really_use_postgresql(session):
    assert session.get_bind().dialect.name == "postgresql"
    assert session.exec(text("SELECT 1")).one()[0] == 1


# ------------------------------------------------------------------ schema


def test_alembic_upgrade_head_creates_every_table(settings):
    """``settings`` ran ``alembic upgrade head`` on the empty database: every
    table, column (type) and index of the models is there; the only
    differences allowed are indexes that only the migrations define."""
    engine = db.get_engine()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        assert set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    assert [d for d in diffs if not (isinstance(d, tuple) and d[0] == "remove_index")] == []


# ------------------------------------------------------------------ dispatch


def _open_attempts(engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(SendAttempt.id).where(SendAttempt.status.in_(("queued", "sending")))).all())


def _lease_owners(engine) -> set[str]:
    with Session(engine) as s:
        return set(s.exec(select(SendAttempt.lease_owner).where(SendAttempt.lease_owner.is_not(None))).all())


def test_claim_skips_rows_locked_by_another_transaction(settings, session):
    """While another transaction holds the first attempts (as a claiming
    worker does), a claim takes the next ones at once instead of waiting."""
    from smspay_app.worker.dispatcher import Dispatcher

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=6)
    sending.start_sending(session, campaign)
    session.commit()
    ids = list(session.exec(select(SendAttempt.id).order_by(SendAttempt.not_before, SendAttempt.id)))
    dispatcher = Dispatcher(settings, batch_size=10, lookup_carriers=False)
    lock = text("SELECT id FROM sendattempt WHERE id IN :ids FOR UPDATE").bindparams(bindparam("ids", expanding=True))
    claimed: list = []
    with db.get_engine().connect() as other:
        assert len(other.execute(lock, {"ids": ids[:4]}).all()) == 4
        claim = threading.Thread(target=lambda: claimed.append(dispatcher._claim(None)), daemon=True)
        claim.start()
        claim.join(timeout=10)
        waited = claim.is_alive()
        other.rollback()  # releases a claim that waited (without SKIP LOCKED)
        claim.join(timeout=10)
    assert not waited, "the claim waited for rows another transaction holds"
    assert sorted(j.attempt_id for j in claimed[0]) == ids[4:]
    assert sorted(j.attempt_id for j in dispatcher._claim(None)) == ids[:4]


def test_three_worker_processes_claim_with_skip_locked_and_send_each_message_once(settings, session, tmp_path):
    messages = 600
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=messages)
    sending.start_sending(session, campaign)
    session.commit()
    engine = db.get_engine()
    sim, sim_base = start_simulator(settings)
    env = worker_env(settings, sim_base)
    env["SMSPAY_SMS_RATE_PER_SECOND"] = "0"  # no provider rate limit: the workers race each other
    workers: list[subprocess.Popen] = []
    owners: set[str] = set()
    try:
        # Provider latency keeps each batch in flight long enough for the
        # workers to overlap; no callbacks (no web app here).
        httpx.post(sim_base + "/_control", json={"callbacks": False, "latency_ms": 25})
        for i in range(3):
            log = open(tmp_path / f"worker{i}.log", "wb")
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "smspay_app.worker", "--batch-size", "8", "--log-level", "WARNING"],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        deadline = time.monotonic() + 90
        while _open_attempts(engine) > 0:
            assert time.monotonic() < deadline, "the workers did not finish the send"
            assert all(w.poll() is None for w in workers), "a worker exited"
            owners |= _lease_owners(engine)
            time.sleep(0.05)
        for w in workers:
            w.terminate()
        assert [w.wait(timeout=20) for w in workers] == [0, 0, 0]  # SIGTERM: clean exit
        stats_ = httpx.get(sim_base + "/_stats").json()
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        sim.kill()
        sim.wait()

    logs = "\n".join((tmp_path / f"worker{i}.log").read_text(errors="replace") for i in range(3))
    assert "Traceback" not in logs and "ERROR" not in logs, logs[-4000:]
    assert len(owners) >= 2, f"the send was not shared between workers: {owners}"
    session.expire_all()
    phones = {r.id: r.phone_e164 for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id))}
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    assert len(attempts) == messages == len(phones)
    assert stats_["max_asked"] == 1
    assert len(stats_["by_to"]) == messages and set(stats_["by_to"].values()) == {1}
    for a in attempts:
        assert a.status in ("accepted", "sent", "delivered"), a.status
        assert stats_["by_to"][phones[a.recipient_id]] == 1 and a.provider_message_id
    assert stats.counts_for(session, [campaign.id])[campaign.id] == stats.counts_sql(session, campaign.id)


# ------------------------------------------------------------------ dashboard

# 2030-05-01 09:00 UTC = 18:00 in Tokyo
NOW = datetime(2030, 5, 1, 9, 0)


def test_dashboard_counters_and_hourly_and_daily_series(session):
    org = make_org(session, timezone="Asia/Tokyo")
    campaign = make_campaign(session, org, 4)
    caller = auth.Caller(1, org.id, "support", "", "", "ja", "")
    a, b, c, d = session.exec(
        select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)
    ).all()
    for r in (a, b, c, d):
        r.amount_yen = 1000
        session.add(r)
        timeline.record(session, r, "sms_sent", step="sent", at=NOW - timedelta(days=3))
    session.commit()
    events = [
        (a, "clicked", NOW - timedelta(minutes=30)),  # 08:30 UTC = 17:30 JST today
        (a, "paid", NOW - timedelta(minutes=10)),  # 08:50 UTC, same hour
        (b, "clicked", NOW - timedelta(hours=2, minutes=5)),  # 06:55 UTC = 15:55 JST
        (c, "clicked", NOW - timedelta(days=2)),  # outside 48 h, inside 30 days
        (d, "failed", NOW - timedelta(hours=1)),
    ]
    for r, step, at in events:
        timeline.record(
            session, r, {"clicked": "click", "paid": "paid", "failed": "sms_failed"}[step], step=step, at=at
        )
        session.commit()

    session.expire_all()
    figures = dashboard.campaign_figures(session, caller, campaign.id)
    assert figures.counts == stats.counts_sql(session, campaign.id)
    assert (figures.counts["clicked"], figures.counts["paid"], figures.counts["failed"]) == (3, 1, 1)
    assert figures.collected_yen == 1000 and figures.outstanding_yen == 3000

    def nonzero(range_key):
        series = dashboard.time_series(session, caller, campaign.id, range_key=range_key, now=NOW)
        assert len(series) == (48 if range_key == "48h" else 30)
        return {p["bucket"]: (p["clicks"], p["payments"]) for p in series if p["clicks"] or p["payments"]}

    hourly = {"2030-05-01 17:00": (1, 1), "2030-05-01 15:00": (1, 0)}
    daily = {"2030-05-01": (2, 1), "2030-04-29": (1, 0)}
    assert nonzero("48h") == hourly
    assert nonzero("30d") == daily
    # The repair path re-derives the hourly rows with date_trunc on PostgreSQL.
    stats.rebuild(session, campaign.id, org.id)
    session.commit()
    session.expire_all()
    assert nonzero("48h") == hourly and nonzero("30d") == daily
    kept = {h: (c_, p) for h, c_, p in stats.hours_for(session, campaign.id, NOW - timedelta(days=30))}
    assert kept == stats.hours_sql(session, campaign.id)


# ------------------------------------------------------------------ import


def test_small_csv_import_inserts_with_returning(session):
    org = make_org(session)
    campaign = make_campaign(session, org, 0)
    other = make_campaign(session, org, 2, name="other")  # ids already taken by another campaign
    data = "電話番号,氏名,金額\n090-1111-0001,山田 太郎,1200\n090-1111-0002,佐藤 花子,3400\n03-1234-5678,固定,100\n090-1111-0001,重複,1\n"
    report = import_recipients_csv(session, campaign, data.encode(), filename="small.csv")
    session.commit()
    assert (report.imported_rows, report.rejected_rows, report.duplicate_rows) == (2, 1, 1)
    session.expire_all()
    rows = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)).all()
    assert [(r.phone_e164, r.name, r.amount_yen, r.row_number) for r in rows] == [
        ("+819011110001", "山田 太郎", 1200, 2),
        ("+819011110002", "佐藤 花子", 3400, 3),
    ]
    assert min(r.id for r in rows) > max(session.exec(select(Recipient.id).where(Recipient.campaign_id == other.id)))
    assert stats.counts_for(session, [campaign.id])[campaign.id] == stats.counts_sql(session, campaign.id)
    assert stats.counts_sql(session, campaign.id)["total_yen"] == 4600
