"""The maintained campaign counters (``CampaignStats``) always equal the COUNT
over the recipients' timestamps, whatever path and order the events take."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from smspay_app import db
from smspay_app.models import CampaignStats, Recipient, TimelineEvent
from smspay_app.services import campaigns, stats, timeline
from smspay_app.services.imports import import_recipients_csv
from tests.factories import add_recipients, make_campaign, make_org

STEPS = ("queued", "sent", "delivered", "clicked", "verified", "paid", "failed", "expired", "locked", "opted_out")
T0 = datetime(2030, 5, 1, 9, 0)
# The timeline kind the code writes with each step (kinds are registered: timeline.TIMELINE_KINDS).
STEP_KIND = {
    "queued": "queued",
    "sent": "sms_sent",
    "delivered": "sms_delivered",
    "clicked": "click",
    "verified": "verified",
    "paid": "paid",
    "failed": "sms_failed",
    "expired": "link_expired",
    "locked": "locked",
    "opted_out": "opted_out",
}


def _counters(session: Session, campaign_id: int) -> dict[str, int]:
    session.expire_all()
    return stats.counts_for(session, [campaign_id])[campaign_id]


@pytest.mark.also_on_postgresql
def test_counters_equal_count_query_after_random_event_sequences(session):
    rnd = random.Random(20300501)
    org = make_org(session)
    a = make_campaign(session, org, 0, name="A")
    b = make_campaign(session, org, 0, name="B")
    # Bulk import path (bypasses the ORM) plus ORM inserts.
    csv_rows = "\n".join(f"090{10000000 + i:08d},顧客{i},{1000 + i * 10}" for i in range(30))
    report = import_recipients_csv(session, a, f"電話番号,氏名,金額\n{csv_rows}\n".encode(), filename="a.csv")
    session.commit()
    assert report.imported_rows == 30
    add_recipients(session, b, 25, first_phone=500)
    for r in session.exec(select(Recipient).where(Recipient.campaign_id == b.id)):
        r.amount_yen = rnd.randint(1, 9) * 1000
        session.add(r)
    session.commit()
    ids = list(session.exec(select(Recipient.id)))
    for _ in range(400):
        recipient = session.get(Recipient, rnd.choice(ids))
        step = rnd.choice(STEPS)
        at = T0 + timedelta(minutes=rnd.randint(0, 600))  # out of order on purpose
        timeline.record(session, recipient, STEP_KIND[step], step=step, at=at)
        if rnd.random() < 0.05:
            recipient.amount_yen = rnd.randint(0, 9) * 500  # an amount corrected later
            session.add(recipient)
        if rnd.random() < 0.3:
            session.commit()
        if rnd.random() < 0.02:
            session.rollback()  # lost work must not leave counts behind
    session.commit()
    # A deleted recipient leaves the counts too.
    victim = session.get(Recipient, ids[-1])
    for event in session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == victim.id)):
        session.delete(event)
    session.flush()
    session.delete(victim)
    session.commit()
    for campaign in (a, b):
        truth = stats.counts_sql(session, campaign.id)
        assert truth["paid"] > 0 and truth["clicked"] > truth["paid"]  # the sequence really moved the funnel
        assert _counters(session, campaign.id) == truth
        assert campaigns.funnel_counts(session, campaign.id) == truth


@pytest.mark.also_on_postgresql
def test_each_step_counts_once_even_when_repeated(session):
    org = make_org(session)
    campaign = make_campaign(session, org, 1)
    recipient = session.exec(select(Recipient)).one()
    recipient.amount_yen = 5000
    session.add(recipient)
    session.commit()
    for minutes in (30, 10, 20, 5):  # a repeated, earlier-moving click
        timeline.record(session, recipient, "click", step="clicked", at=T0 + timedelta(minutes=minutes))
        session.commit()
    counts = _counters(session, campaign.id)
    assert (counts["sent"], counts["delivered"], counts["clicked"], counts["verified"], counts["paid"]) == (
        1,
        1,
        1,
        0,
        0,
    )
    for _ in range(2):
        timeline.record(session, recipient, "paid", step="paid", at=T0 + timedelta(hours=1))
        session.commit()
    counts = _counters(session, campaign.id)
    assert counts["paid"] == 1 and counts["paid_yen"] == 5000 and counts["total_yen"] == 5000


@pytest.mark.also_on_postgresql
def test_interleaved_writers_with_stale_objects_count_exactly(settings):
    """Two sessions hold the same recipient; each records a different step
    from its own (stale) copy. The counters read the stored row under the
    write lock, so neither step is lost nor counted twice."""
    engine = db.get_engine()
    with Session(engine, expire_on_commit=False) as setup:
        org = make_org(setup)
        campaign = make_campaign(setup, org, 1)
        rid = setup.exec(select(Recipient.id)).one()
    with Session(engine, expire_on_commit=False) as one, Session(engine, expire_on_commit=False) as two:
        r1 = one.get(Recipient, rid)
        r2 = two.get(Recipient, rid)
        timeline.record(two, r2, "sms_delivered", step="delivered", at=T0)
        two.commit()
        timeline.record(one, r1, "click", step="clicked", at=T0 + timedelta(minutes=3))
        one.commit()
        timeline.record(two, r2, "sms_delivered", step="delivered", at=T0 - timedelta(minutes=1))
        two.commit()
    with Session(engine) as check:
        truth = stats.counts_sql(check, campaign.id)
        assert truth["delivered"] == 1 and truth["clicked"] == 1
        assert _counters(check, campaign.id) == truth


@pytest.mark.also_on_postgresql
def test_rebuild_repairs_a_row(session):
    org = make_org(session)
    campaign = make_campaign(session, org, 4)
    for r in session.exec(select(Recipient)).all()[:2]:
        timeline.record(session, r, "sms_sent", step="sent", at=T0)
    session.commit()
    row = session.get(CampaignStats, campaign.id)
    row.sent = 99
    session.add(row)
    session.commit()
    stats.rebuild(session, campaign.id, org.id)
    session.commit()
    assert _counters(session, campaign.id)["sent"] == 2 == stats.counts_sql(session, campaign.id)["sent"]


@pytest.mark.also_on_postgresql
def test_hourly_series_equal_the_recipients_after_random_events(session):
    rnd = random.Random(7)
    org = make_org(session)
    campaign = make_campaign(session, org, 15)
    ids = list(session.exec(select(Recipient.id)))
    for _ in range(120):
        r = session.get(Recipient, rnd.choice(ids))
        step = rnd.choice(("clicked", "verified", "paid", "delivered"))
        timeline.record(session, r, STEP_KIND[step], step=step, at=T0 + timedelta(minutes=rnd.randint(0, 6 * 60)))
        if rnd.random() < 0.5:
            session.commit()
    session.commit()
    truth = stats.hours_sql(session, campaign.id)
    kept = {h: (c, p) for h, c, p in stats.hours_for(session, campaign.id, T0 - timedelta(days=1)) if c or p}
    assert kept == truth and sum(c for c, _ in truth.values()) > 0
    stats.rebuild(session, campaign.id, org.id)
    session.commit()
    rebuilt = {h: (c, p) for h, c, p in stats.hours_for(session, campaign.id, T0 - timedelta(days=1)) if c or p}
    assert rebuilt == truth


def test_migration_backfills_counters_from_existing_recipients(tmp_path, monkeypatch):
    """A database with recipients from before 0004_dash gets exact counters."""
    from alembic import command
    from smspay_app.migrate import alembic_config
    from smspay_app.settings import get_settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("SMSPAY_DATABASE_URL", url)
    get_settings.cache_clear()
    db.engine_for.cache_clear()
    command.upgrade(alembic_config(url), "0001")
    engine = db.engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO organisation (id, name, sender_name, sender_id, timezone, default_region, allow_foreign_numbers, quiet_hours_start, quiet_hours_end, support_phone, segment_price_yen, carrier_char_cap, require_totp, data_retention_days, created_at) VALUES (1, 'o', 'o', '', 'Asia/Tokyo', 'JP', 0, '21:00', '08:00', '', 10, 660, 0, 365, '2030-01-01 00:00:00.000000')"
        )
        conn.exec_driver_sql(
            "INSERT INTO campaign (id, organisation_id, name, status, sms_template, page_title, page_message, payment_enabled, amount_yen, ask_read_confirmation, verification_mode, max_wrong_answers, link_lifetime_hours, reminder_rules, reminder_template, created_at, updated_at) VALUES (1, 1, 'c', 'sending', '', '', '', 1, 0, 0, 'questions', 5, 72, '[]', '', '2030-01-01 00:00:00.000000', '2030-01-01 00:00:00.000000')"
        )
        for i in range(6):
            clicked = f"'2030-05-01 0{i % 3}:1{i}:00.000000'" if i % 2 == 0 else "NULL"
            paid = "'2030-05-01 03:00:00.000000'" if i == 0 else "NULL"
            conn.exec_driver_sql(
                f"INSERT INTO recipient (campaign_id, organisation_id, phone_e164, name, merge_data, amount_yen, external_ref, carrier, status, failed_answer_count, created_at, sent_at, clicked_at, paid_at) VALUES (1, 1, '+8190000000{i}', '', '{{}}', 1000, '', '', 'sent', 0, '2030-05-01 00:00:00.000000', '2030-05-01 00:00:00.000000', {clicked}, {paid})"
            )
    command.upgrade(alembic_config(url), "head")
    with Session(engine, expire_on_commit=False) as s:
        assert _counters(s, 1) == stats.counts_sql(s, 1)
        assert _counters(s, 1)["clicked"] == 3 and _counters(s, 1)["paid_yen"] == 1000
        kept = {h: (c, p) for h, c, p in stats.hours_for(s, 1, datetime(2030, 4, 30))}
        assert kept == stats.hours_sql(s, 1)
        # and a later ORM change meets the backfilled hour row (same key format)
        r = s.exec(select(Recipient).where(Recipient.clicked_at.is_(None))).first()
        timeline.record(s, r, "click", step="clicked", at=datetime(2030, 5, 1, 0, 30))
        s.commit()
        kept = {h: (c, p) for h, c, p in stats.hours_for(s, 1, datetime(2030, 4, 30))}
        assert kept == stats.hours_sql(s, 1)
    engine.dispose()
    get_settings.cache_clear()
    db.engine_for.cache_clear()


def test_counter_hooks_are_installed_by_the_engine_factory_not_by_importing_models():
    code = (
        "import smspay_app.models\n"
        "from smspay_app.services import stats\n"
        "before = stats.counters_installed()\n"
        "from smspay_app import db\n"
        "db.engine_for('sqlite://')\n"
        "print(before, stats.counters_installed())\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_installing_the_counters_again_still_counts_each_change_once(session):
    assert stats.counters_installed()  # the session's engine came from db.engine_for
    stats.install_counters()
    stats.install_counters()
    org = make_org(session)
    campaign = make_campaign(session, org, 1)
    recipient = session.exec(select(Recipient)).one()
    timeline.record(session, recipient, "click", step="clicked", at=T0)
    session.commit()
    counts = _counters(session, campaign.id)
    assert (counts["recipients"], counts["sent"], counts["clicked"]) == (1, 1, 1)
    assert counts == stats.counts_sql(session, campaign.id)
