"""Queued reminders through the real dispatcher and the SMS simulator over
HTTP: the reminder text is sent once, a payment made after queueing cancels
the reminder, the timeline shows both, and the worker's pass is idempotent."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, SendAttempt, TimelineEvent
from smspay_app.services import timeline
from smspay_app.worker import run_dispatcher_once as dispatch_once
from smspay_app.worker.reminders import run_once as reminders_once
from tests.factories import make_campaign, make_org


@pytest.mark.also_on_postgresql
async def test_reminders_are_sent_once_and_not_after_payment(live_server, session):
    now = utcnow().replace(microsecond=0)
    org = make_org(session)  # quiet hours off
    make_campaign(
        session,
        org,
        2,
        status="active",
        due_date=date.today(),
        reminder_rules=json.dumps({"rules": [{"anchor": "first_send", "days": 1}], "max": 1}),
        reminder_template="{{name}}様 お支払はお済みですか {{link}}",
    )
    unpaid, payer = session.exec(select(Recipient).order_by(Recipient.id)).all()
    for r in (unpaid, payer):
        timeline.record(session, r, "sms_sent", step="sent", at=now - timedelta(days=1, minutes=5))
    session.commit()
    assert await reminders_once(now) == 2
    assert await reminders_once(now) == 0
    timeline.record(session, payer, "paid", step="paid", at=now)  # pays before the reminder goes out
    session.commit()
    with live_server.client() as client:
        client.post("/sim/twilio/_control", json={"callbacks": False})
        assert await dispatch_once(now) == 1
        stats = client.get("/sim/twilio/_stats").json()
        inbox = client.get(f"/sim/twilio/inbox/{unpaid.phone_e164}").text
    assert stats["messages"] == 1 and stats["max_asked"] == 1
    assert "お支払はお済みですか" in inbox
    session.expire_all()
    attempts = {a.recipient_id: a for a in session.exec(select(SendAttempt).where(SendAttempt.kind == "reminder"))}
    assert attempts[unpaid.id].status == "accepted"
    assert attempts[payer.id].status == "cancelled"
    kinds = lambda rid: [e.kind for e in session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == rid))]  # noqa: E731
    assert "reminder_queued" in kinds(unpaid.id) and "reminder_sent" in kinds(unpaid.id)
    assert "reminder_sent" not in kinds(payer.id)
    assert await reminders_once(now + timedelta(hours=1)) == 0  # max 1
