"""The REST API's reissue and cancel and the support page's are one code path
(``services.actions``): on identical data they write the same audit rows and
timeline kinds and leave the recipient, its links and its attempts in the same
states. The API runs over real HTTP (``live_server``), the support path
through ``support.run_action`` as the page calls it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from smspay_app.db import session_scope
from smspay_app.models import AuditLog, Link, Organisation, Recipient, SendAttempt, TimelineEvent
from smspay_app.services import journey, support
from smspay_app.web import api as api_web
from smspay_app.web import recipient as recipient_web
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_admin, make_caller, make_key
from tests.helpers import CAMPAIGN, api_client, idem, wait_until


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    api_web.rate_limiter.reset()


def _state(session: Session, recipient_id: int) -> dict:
    """Everything an action changes, without ids, times or the actor."""
    session.expire_all()
    recipient = session.get(Recipient, recipient_id)
    audits = session.exec(
        select(AuditLog).where(AuditLog.target_type == "recipient", AuditLog.target_id == recipient_id)
    ).all()
    return {
        "status": "sent or delivered" if recipient.status in ("sent", "delivered") else recipient.status,
        "steps": sorted(k for k in ("cancelled_at", "queued_at") if getattr(recipient, k) is not None),
        "links": [
            (link.revoked_at is not None, link.revoked_reason, link.session_hash, link.session_expires_at)
            for link in session.exec(select(Link).where(Link.recipient_id == recipient_id).order_by(Link.id))
        ],
        "attempts": [
            (a.kind, a.status, a.ignore_quiet_hours)
            for a in session.exec(
                select(SendAttempt).where(SendAttempt.recipient_id == recipient_id).order_by(SendAttempt.id)
            )
        ],
        # (provider callbacks and the carrier lookup arrive in their own order: left out)
        "timeline": [
            e.kind
            for e in session.exec(
                select(TimelineEvent)
                .where(TimelineEvent.recipient_id == recipient_id)
                .order_by(TimelineEvent.at, TimelineEvent.id)
            )
            if not e.kind.startswith("sms_") and e.kind != "carrier"
        ],
        "audit": [
            (a.action, sorted(k for k in json.loads(a.detail) if k not in ("actor", "user_id", "api_key_id")))
            for a in audits
        ],
    }


async def test_api_and_support_reissue_and_cancel_are_the_same_action(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        ids = [
            api.post(
                "/api/v1/payment-requests",
                json={"campaign_id": campaign["id"], "recipient": {"phone": phone, "name": "佐藤"}},
                headers=idem(),
            ).json()["id"]
            for phone in ("09011112222", "09033334444")
        ]
        assert await run_dispatcher_once() == 2
        by_api, by_staff = ids
        # The simulator's status callbacks arrive on their own: compare once both are delivered.
        assert wait_until(lambda: {_state(session, i)["attempts"][0][1] for i in ids} == {"delivered"})
        staff = make_caller(session, session.get(Organisation, admin.organisation_id), "support", "s@example.com")
        assert _state(session, by_api) == _state(session, by_staff)

        # Reissue: a new SMS queued, the live link revoked, one audit row, one timeline kind.
        assert api.post(f"/api/v1/recipients/{by_api}/reissue", headers=idem()).status_code == 200
        with session_scope() as s:
            support.run_action(s, staff, "reissue", by_staff, "電話で依頼")
        assert _state(session, by_api) == _state(session, by_staff)
        after_reissue = _state(session, by_api)
        assert after_reissue["attempts"][-1] == ("reissue", "queued", False)
        assert after_reissue["links"][-1][:2] == (True, "reissued")
        assert after_reissue["timeline"][-1] == "staff_reissue"

        # The same rule refuses a second reissue while one is queued, on both paths.
        again = api.post(f"/api/v1/recipients/{by_api}/reissue", headers={**idem(), "Accept-Language": "en"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        with pytest.raises(support.SupportError) as refused, session_scope() as s:
            support.run_action(s, staff, "reissue", by_staff, "もう一度")
        assert refused.value.key == "ops.error.already_queued"
        assert refused.value.text("en") in again.json()["error"]["message"]

        # Cancel: the queued reissue cancelled, the recipient cancelled.
        cancelled = api.post(f"/api/v1/recipients/{by_api}/cancel", headers=idem())
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        with session_scope() as s:
            support.run_action(s, staff, "cancel", by_staff, "注文取消")
        assert _state(session, by_api) == _state(session, by_staff)
        final = _state(session, by_api)
        assert final["status"] == "cancelled" and final["attempts"][-1][1] == "cancelled"
        assert final["timeline"][-1] == "staff_cancel"
        assert [a for a, _ in final["audit"]] == ["support.reissue", "support.cancel"]
        # Cancelling again over the API stays idempotent (200, nothing more written).
        assert api.post(f"/api/v1/recipients/{by_api}/cancel", headers=idem()).status_code == 200
        assert _state(session, by_api) == final

    # Who acted: the API key on one side, the staff member on the other.
    session.expire_all()
    api_audit = session.exec(
        select(AuditLog).where(AuditLog.target_type == "recipient", AuditLog.target_id == by_api)
    ).first()
    staff_audit = session.exec(
        select(AuditLog).where(AuditLog.target_type == "recipient", AuditLog.target_id == by_staff)
    ).first()
    assert json.loads(api_audit.detail)["actor"] == "api_key" and json.loads(api_audit.detail)["api_key_id"]
    assert api_audit.reason == "API" and api_audit.user_id is None
    assert json.loads(staff_audit.detail)["user_id"] == staff.user_id and staff_audit.reason == "電話で依頼"


def test_queue_send_for_a_whole_campaign_and_for_given_recipients(session):
    from smspay_app.models import Campaign
    from smspay_app.services import actions, sending
    from tests.factories import make_campaign, make_org

    org = make_org(session)
    admin = make_admin(session, org)
    campaign = make_campaign(session, org, recipients=3)
    ids = list(session.exec(select(Recipient.id).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)))
    assert actions.queue_send(session, admin, campaign, ids[:1], "電話注文") == 1
    assert session.get(Campaign, campaign.id).status == "sending"
    # The rest of the campaign: only the two still created are queued.
    sending.pause(session, campaign)
    assert actions.queue_send(session, admin, campaign, None, "残りを送信") == 2
    audits = session.exec(select(AuditLog).where(AuditLog.action == "campaign.send")).all()
    assert [(a.reason, json.loads(a.detail)["queued"]) for a in audits] == [("電話注文", 1), ("残りを送信", 2)]
    with pytest.raises(support.SupportError):
        actions.queue_send(session, admin, campaign, None, "")
