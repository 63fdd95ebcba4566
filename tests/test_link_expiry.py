"""Links that pass their expiry mark the recipient ``expired`` (once), which
feeds the timeline, the funnel's side exit and the ``recipient.expired``
webhook; finished journeys and reissued links are left alone."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import Recipient, TimelineEvent
from smspay_app.services import timeline
from smspay_app.services.links import expire_due, issue_link
from tests.factories import make_campaign, make_org

START = datetime(2026, 11, 1, 3, 0)


def test_expired_links_mark_recipients_once(session):
    org = make_org(session)
    make_campaign(session, org, recipients=4, link_lifetime_hours=24)
    r_open, r_paid, r_reissued, r_late = session.exec(select(Recipient).order_by(Recipient.id)).all()
    with clock.frozen(START) as c:
        for r in (r_open, r_paid, r_reissued):
            issue_link(session, r, 24)
            timeline.record(session, r, "sms_delivered", step="delivered")
        issue_link(session, r_late, 48)
        timeline.record(session, r_paid, "paid", step="paid")
        session.commit()

        c.tick(timedelta(hours=23, minutes=59))
        assert expire_due(session) == 0

        c.tick(timedelta(hours=1))
        issue_link(session, r_reissued, 24)  # staff reissued: the old link is revoked, the new one is live
        session.commit()
        assert expire_due(session) == 1
        assert expire_due(session) == 0  # once

    session.expire_all()
    by_id = {r.id: r for r in session.exec(select(Recipient))}
    assert by_id[r_open.id].status == "expired"
    assert by_id[r_open.id].expired_at == START + timedelta(hours=24)
    assert by_id[r_open.id].delivered_at == START  # the funnel keeps what it reached
    assert by_id[r_paid.id].status == "paid"
    assert by_id[r_reissued.id].status == "delivered"
    assert by_id[r_late.id].status != "expired"
    kinds = session.exec(select(TimelineEvent.kind).where(TimelineEvent.recipient_id == r_open.id)).all()
    assert kinds.count("link_expired") == 1


def test_expiry_job_runs_in_the_worker(session):
    from smspay_app.worker import expiry

    org = make_org(session)
    make_campaign(session, org, recipients=2)
    recipients = session.exec(select(Recipient)).all()
    with clock.frozen(START) as c:
        for r in recipients:
            issue_link(session, r, 1)
        session.commit()
        c.tick(timedelta(hours=2))
        assert asyncio.run(expiry.run_once()) == 2
    session.expire_all()
    assert {r.status for r in session.exec(select(Recipient))} == {"expired"}


def test_a_new_sms_with_a_fresh_link_reopens_an_expired_recipient(session, live_server):
    """A reminder (or any new SMS) carries a new link: the recipient is no
    longer expired, and its next click counts."""
    from smspay_app.models import SendAttempt
    from smspay_app.services import sending
    from smspay_app.worker import run_dispatcher_once

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1, link_lifetime_hours=1)
    sending.start_sending(session, campaign)
    session.commit()
    asyncio.run(run_dispatcher_once())
    deadline = time.monotonic() + 10  # the simulator's status callbacks arrive over HTTP
    while True:
        session.expire_all()
        recipient = session.exec(select(Recipient)).one()
        if recipient.status in ("sent", "delivered") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert recipient.status in ("sent", "delivered")
    with clock.frozen(clock.utcnow() + timedelta(hours=2)):
        assert expire_due(session) == 1
        session.expire_all()
        assert session.get(Recipient, recipient.id).status == "expired"
        session.add(
            SendAttempt(
                organisation_id=org.id,
                campaign_id=campaign.id,
                recipient_id=recipient.id,
                kind="reminder",
                idempotency_key="reminder-1",
                not_before=clock.utcnow(),
            )
        )
        session.commit()
        asyncio.run(run_dispatcher_once())
    session.expire_all()
    again = session.get(Recipient, recipient.id)
    reminder = session.exec(select(SendAttempt).where(SendAttempt.kind == "reminder")).one()
    assert reminder.status in ("accepted", "sent", "delivered")
    assert again.status in ("sent", "delivered") and again.expired_at is not None
