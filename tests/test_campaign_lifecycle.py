"""The campaign lifecycle a collections desk steers (issue 20, item 1): after
its first send a campaign is ``active`` (reminders, reissues and late additions
still go out), and pause, resume and cancel keep working there, through the
console's rules and the REST API of docs/api.md. Frozen clock, real dispatcher,
the SMS simulator over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain.clock import frozen
from smspay_app.models import AuditLog, Campaign, Recipient, SendAttempt
from smspay_app.services import campaigns, sending, timeline
from smspay_app.worker import run_dispatcher_once as dispatch_once
from smspay_app.worker.reminders import run_once as reminders_once
from tests.factories import make_admin, make_caller, make_campaign, make_key, make_org
from tests.helpers import api_client, idem

# 2030-04-01 10:00 JST
T0 = datetime(2030, 4, 1, 1, 0)
RULES = {"rules": [{"anchor": "first_send", "days": 1}, {"anchor": "first_send", "days": 2}], "max": 2}


def _mark_sent(session, campaign) -> None:
    """The provider's ``sent`` report (the simulator's callbacks are off)."""
    for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)):
        timeline.record(session, r, "sms_sent", step="sent", at=T0)
    session.commit()


def _sent(client) -> int:
    return client.get("/sim/twilio/_stats").json()["messages"]


async def test_cancel_after_the_first_send_stops_reminders_and_held_messages_pause_and_resume_work(
    live_server, session
):
    """Was: the campaign turned ``completed`` within seconds of its first send,
    pause and cancel were refused (the docs' cancel curl got 409) and reminders
    kept going out."""
    with frozen(T0) as clock:
        org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00")
        admin = make_admin(session, org)
        key = make_key(session, admin)
        campaign = make_campaign(session, org, 3, reminder_rules=json.dumps(RULES))
        assert sending.start_sending(session, campaign) == 3
        session.commit()
        with api_client(live_server, key) as api:
            api.post("/sim/twilio/_control", json={"callbacks": False})
            assert await dispatch_once(T0) == 3
            _mark_sent(session, campaign)
            shown = api.get(f"/api/v1/campaigns/{campaign.id}").json()
            assert shown["status"] == "active"

            # Day 1: the first reminders are queued; a pause stops them at once.
            clock.set(T0 + timedelta(days=1, minutes=5))
            assert await reminders_once() == 3
            paused = api.post(f"/api/v1/campaigns/{campaign.id}/pause", headers=idem())
            assert paused.status_code == 200 and paused.json()["status"] == "paused"
            assert await dispatch_once() == 0
            assert _sent(api) == 3
            resumed = api.post(f"/api/v1/campaigns/{campaign.id}/resume", headers=idem())
            assert resumed.status_code == 200 and resumed.json()["status"] == "sending"
            assert await dispatch_once() == 3
            assert _sent(api) == 6
            assert api.get(f"/api/v1/campaigns/{campaign.id}").json()["status"] == "active"

            # 22:05 JST: a reissue is held for quiet hours.
            clock.set(T0 + timedelta(days=1, hours=12, minutes=5))
            first = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).first()
            assert api.post(f"/api/v1/recipients/{first.id}/reissue", headers=idem()).status_code == 200
            assert await dispatch_once() == 0
            held = session.exec(
                select(SendAttempt).where(SendAttempt.recipient_id == first.id, SendAttempt.kind == "reissue")
            ).one()
            session.refresh(held)
            assert held.status == "queued" and held.held_for_quiet_hours

            # The docs' cancel: 200, and nothing leaves afterwards.
            cancelled = api.post(f"/api/v1/campaigns/{campaign.id}/cancel", headers=idem())
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            session.refresh(held)
            assert held.status == "cancelled"
            for day in (2, 3, 7):
                clock.set(T0 + timedelta(days=day, minutes=5))
                assert await reminders_once() == 0
                assert await dispatch_once() == 0
            assert _sent(api) == 6
            refused = api.post(f"/api/v1/campaigns/{campaign.id}/pause", headers=idem())
            assert refused.status_code == 409


async def test_a_paused_campaign_queues_no_reminder_and_resume_restarts_them(live_server, session):
    with frozen(T0) as clock:
        org = make_org(session)
        campaign = make_campaign(session, org, 2, reminder_rules=json.dumps(RULES))
        sending.start_sending(session, campaign)
        session.commit()
        with live_server.client() as client:
            client.post("/sim/twilio/_control", json={"callbacks": False})
            assert await dispatch_once() == 2
            _mark_sent(session, campaign)
            session.refresh(campaign)
            sending.pause(session, campaign)
            session.commit()
            clock.set(T0 + timedelta(days=1, minutes=5))
            assert await reminders_once() == 0
            assert await dispatch_once() == 0
            sending.resume(session, campaign)
            session.commit()
            assert await reminders_once() == 2
            assert await dispatch_once() == 2
            assert _sent(client) == 4


async def test_an_active_campaign_closes_at_its_configured_end_and_sends_nothing_more(live_server, session):
    with frozen(T0) as clock:
        org = make_org(session)
        campaign = make_campaign(
            session, org, 2, reminder_rules=json.dumps(RULES), closes_at=T0 + timedelta(days=1, hours=12)
        )
        sending.start_sending(session, campaign)
        session.commit()
        with live_server.client() as client:
            client.post("/sim/twilio/_control", json={"callbacks": False})
            assert await dispatch_once() == 2
            _mark_sent(session, campaign)
            clock.set(T0 + timedelta(days=1, minutes=5))
            assert await reminders_once() == 2
            assert await dispatch_once() == 2
            clock.set(T0 + timedelta(days=2, minutes=5))
            assert await dispatch_once() == 0  # its housekeeping closes it
            session.expire_all()
            assert session.get(Campaign, campaign.id).status == "closed"
            assert await reminders_once() == 0
            assert await dispatch_once() == 0
            assert _sent(client) == 4


def test_the_console_configures_the_end_audited_and_refuses_a_past_one(session):
    with frozen(T0):
        org = make_org(session)
        caller = make_caller(session, org)
        campaign = make_campaign(session, org, 1)
        with pytest.raises(campaigns.SendBlocked) as refused:
            campaigns.set_end(session, caller, campaign.id, T0 - timedelta(minutes=1))
        assert refused.value.problems[0].key == "sending.error.end_past"
        campaigns.set_end(session, caller, campaign.id, T0 + timedelta(days=30))
        session.commit()
        assert session.get(Campaign, campaign.id).closes_at == T0 + timedelta(days=30)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "campaign.closes_at")).one()
        assert audit.target_id == campaign.id and audit.user_id == caller.user_id
        campaigns.set_end(session, caller, campaign.id, None)
        assert session.get(Campaign, campaign.id).closes_at is None
