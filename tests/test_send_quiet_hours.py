"""Quiet hours at send time (issue 15 item 1): the send check says how many SMS
will wait and until when; the SMS are held from the first second; "send now
anyway" needs a reason and is audited; a change to the organisation's quiet
hours re-times the held messages at once."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import AuditLog, SendAttempt
from smspay_app.services import campaigns, sending
from smspay_app.services import settings as org_settings
from smspay_app.worker import run_dispatcher_once
from tests.factories import add_recipients, make_caller, make_campaign, make_org, signed_in
from tests.test_settings_service import GOOD

# 03:47 JST on 2026-12-03 is 18:47 UTC on 2026-12-02; quiet hours end at 08:00 JST (23:00 UTC).
JST_0347 = datetime(2026, 12, 2, 18, 47)
JST_0800 = datetime(2026, 12, 2, 23, 0)


def _night_org(session):
    return make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00", timezone="Asia/Tokyo")


def test_check_says_how_many_wait_and_until_when(session):
    org = _night_org(session)
    campaign = make_campaign(session, org, recipients=5, verification_mode="otp", payment_enabled=False)
    caller = make_caller(session, org)
    with clock.frozen(JST_0347):
        check = campaigns.send_check(session, caller, campaign)
    assert check.ok and check.recipients == 5
    assert check.waiting == 5 and check.waits_until == JST_0800 and check.starts_at == JST_0347
    with clock.frozen(JST_0800):
        check = campaigns.send_check(session, caller, campaign)
    assert check.waiting == 0 and check.waits_until is None


def test_send_in_quiet_hours_holds_at_once(session):
    org = _night_org(session)
    campaign = make_campaign(session, org, recipients=5, verification_mode="otp", payment_enabled=False)
    caller = make_caller(session, org)
    with clock.frozen(JST_0347):
        assert campaigns.send_campaign(session, caller, campaign.id) == 5
        session.commit()
        progress = sending.sending_progress(session, campaign.id)
        assert progress["held"] == 5 and progress["queued"] == 0
        assert {a.not_before for a in session.exec(select(SendAttempt))} == {JST_0800}


async def test_send_now_anyway_sends_and_is_audited(live_server, session):
    org = _night_org(session)
    campaign = make_campaign(session, org, recipients=3, verification_mode="otp", payment_enabled=False)
    caller = make_caller(session, org)
    with clock.frozen(JST_0347):
        with pytest.raises(campaigns.SendBlocked) as refused:
            campaigns.send_campaign(session, caller, campaign.id, send_now_reason=" ")
        assert refused.value.key == "ops.error.reason_required"
        assert campaigns.send_campaign(session, caller, campaign.id, send_now_reason="急ぎの請求です") == 3
        session.commit()
        assert await run_dispatcher_once() == 3
    row = session.exec(select(AuditLog).where(AuditLog.action == "campaign.send")).one()
    assert row.reason == "急ぎの請求です" and json.loads(row.detail)["ignore_quiet_hours"] is True


async def test_send_held_now_releases_a_sending_campaign(live_server, session):
    org = _night_org(session)
    campaign = make_campaign(session, org, recipients=2, verification_mode="otp", payment_enabled=False)
    caller = make_caller(session, org)
    with clock.frozen(JST_0347):
        campaigns.send_campaign(session, caller, campaign.id)
        session.commit()
        assert await run_dispatcher_once() == 0
        with pytest.raises(campaigns.SendBlocked):
            campaigns.send_held_now(session, caller, campaign.id, "")
        assert campaigns.send_held_now(session, caller, campaign.id, "お客様のご依頼") == 2
        session.commit()
        assert await run_dispatcher_once() == 2
    row = session.exec(select(AuditLog).where(AuditLog.action == "campaign.send_now")).one()
    assert row.reason == "お客様のご依頼" and json.loads(row.detail) == {"released": 2}


async def test_changing_quiet_hours_retimes_held_messages(live_server, session):
    org = _night_org(session)
    campaign = make_campaign(session, org, recipients=2, verification_mode="otp", payment_enabled=False)
    _, admin = signed_in(session, org, "admin")
    with clock.frozen(JST_0347):
        campaigns.send_campaign(session, admin, campaign.id)
        session.commit()
        assert sending.sending_progress(session, campaign.id)["held"] == 2
        # A shorter night: held until 06:00 JST (21:00 UTC).
        org_settings.update_settings(session, admin, {**GOOD, "quiet_hours_start": "22:00", "quiet_hours_end": "06:00"})
        session.commit()
        assert {a.not_before for a in session.exec(select(SendAttempt))} == {datetime(2026, 12, 2, 21, 0)}
        # No quiet hours at all: they leave at once.
        org_settings.update_settings(session, admin, {**GOOD, "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
        session.commit()
        assert sending.sending_progress(session, campaign.id)["held"] == 0
        assert await run_dispatcher_once() == 2


def test_outstanding_excludes_a_cancelled_campaign(session):
    """Issue 15 item 5: a campaign cancelled before any SMS owes nothing."""
    from smspay_app.services import dashboard

    org = make_org(session)
    caller = make_caller(session, org)
    kept = make_campaign(session, org, recipients=0, amount_yen=3300, name="継続")
    dropped = make_campaign(session, org, recipients=0, amount_yen=7700, name="中止")
    for campaign, n, first in ((kept, 2, 0), (dropped, 3, 10)):
        for r in add_recipients(session, campaign, n, first_phone=first):
            r.amount_yen = campaign.amount_yen
            session.add(r)
    session.commit()
    before = dashboard.overview(session, caller)
    assert before.totals["outstanding_yen"] > 0
    kept_yen = next(f for f in before.campaigns if f.id == kept.id).outstanding_yen
    sending.cancel(session, dropped)
    session.commit()
    after = dashboard.overview(session, caller)
    assert next(f for f in after.campaigns if f.id == dropped.id).outstanding_yen == 0
    assert after.totals["outstanding_yen"] == kept_yen
