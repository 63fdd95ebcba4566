"""A recipient's shown state never hides the truth (issue 20, items 2 and 3):
a failed SMS stays failed through link expiry and gets no reminder; a pending
konbini / bank-transfer payment shows as payment pending, with its deadline,
in the tables, the export and the API (one derivation:
``services.recipients.shown_states``); expiry applies only to links that could
still have been used. Frozen clock, the real dispatcher and simulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import select

from smspay_app.domain.clock import frozen
from smspay_app.models import Payment, Recipient, SendAttempt
from smspay_app.services import exports, links, recipients, sending, timeline
from smspay_app.services.recipients import RecipientQuery
from smspay_app.worker import run_dispatcher_once as dispatch_once
from smspay_app.worker.reminders import run_once as reminders_once
from tests.factories import make_admin, make_caller, make_campaign, make_key, make_org
from tests.helpers import api_client

T0 = datetime(2030, 4, 1, 1, 0)  # 10:00 JST


async def test_a_failed_sms_stays_failed_through_link_expiry_and_gets_no_reminder(live_server, session):
    """Was: with the default 72-hour link the failed recipient became
    ``expired`` (期限切れ in the export), then got the later reminder."""
    rules = {"rules": [{"anchor": "first_send", "days": 4}], "max": 1}
    with frozen(T0) as clock:
        org = make_org(session)
        caller = make_caller(session, org)
        campaign = make_campaign(session, org, 2, reminder_rules=json.dumps(rules), link_lifetime_hours=72)
        sending.start_sending(session, campaign)
        session.commit()
        with live_server.client() as client:
            client.post("/sim/twilio/_control", json={"callbacks": False})
            assert await dispatch_once() == 2
        failed, delivered = session.exec(select(Recipient).order_by(Recipient.id)).all()
        for r in (failed, delivered):
            timeline.record(session, r, "sms_sent", step="sent", at=T0)
        timeline.record(session, failed, "sms_failed", step="failed", at=T0 + timedelta(minutes=1))
        timeline.record(session, delivered, "sms_delivered", step="delivered", at=T0 + timedelta(minutes=1))
        session.commit()
        clock.set(T0 + timedelta(hours=73))
        while links.expire_due(session):
            pass
        session.commit()
        session.refresh(failed), session.refresh(delivered)
        assert failed.status == "failed" and failed.expired_at is None
        assert delivered.status == "expired"  # its link could have been used
        clock.set(T0 + timedelta(days=4, minutes=5))
        assert await reminders_once() == 1
        reminded = {a.recipient_id for a in session.exec(select(SendAttempt).where(SendAttempt.kind == "reminder"))}
        assert reminded == {delivered.id}
        cells = list(exports.iter_rows(session, campaign.id, org.timezone, "ja"))
        assert cells[1][6] == "送信失敗"
        page = recipients.search(session, caller, RecipientQuery(campaign_id=campaign.id, status="failed"))
        assert [r.id for r in page.rows] == [failed.id]


async def test_a_pending_konbini_payment_shows_as_payment_pending_with_its_deadline(live_server, session):
    """Was: a konbini payment under way showed as 期限切れ in the status and the
    export once the link lapsed; the desk could not see money was on its way."""
    with frozen(T0) as clock:
        org = make_org(session)
        admin = make_admin(session, org)
        key = make_key(session, admin)
        campaign = make_campaign(session, org, 2, link_lifetime_hours=72)
        sending.start_sending(session, campaign)
        session.commit()
        with live_server.client() as client:
            client.post("/sim/twilio/_control", json={"callbacks": False})
            assert await dispatch_once() == 2
        payer, other = session.exec(select(Recipient).order_by(Recipient.id)).all()
        for kind, step in (
            ("sms_sent", "sent"),
            ("sms_delivered", "delivered"),
            ("click", "clicked"),
            ("verified", "verified"),
        ):
            timeline.record(session, payer, kind, step=step, at=T0 + timedelta(minutes=5))
        timeline.record(session, payer, "payment_processing", at=T0 + timedelta(minutes=10))
        timeline.record(session, other, "sms_sent", step="sent", at=T0)
        deadline = T0 + timedelta(days=5)
        payment = Payment(
            organisation_id=org.id,
            campaign_id=campaign.id,
            recipient_id=payer.id,
            amount_yen=payer.amount_yen,
            provider_session_id="cs_konbini_1",
            status="processing",
            method="konbini",
        )
        payment.expires_at = deadline
        session.add(payment)
        session.commit()

        clock.set(T0 + timedelta(hours=73))  # the link lapses while the slip is being paid
        while links.expire_due(session):
            pass
        session.commit()
        session.refresh(payer)
        assert payer.status == "verified" and payer.expired_at is None

        expected_deadline = deadline
        assert recipients.shown_state(session, payer) == recipients.ShownState("payment_pending", expected_deadline)
        table = recipients.search(session, admin, RecipientQuery(campaign_id=campaign.id))
        shown = {r.id: (r.status, r.payment_deadline) for r in table.rows}
        assert shown[payer.id] == ("payment_pending", expected_deadline)
        assert shown[other.id] == ("expired", None)
        pending = recipients.search(session, admin, RecipientQuery(campaign_id=campaign.id, status="payment_pending"))
        assert [r.id for r in pending.rows] == [payer.id]
        assert recipients.search(session, admin, RecipientQuery(campaign_id=campaign.id, status="verified")).rows == []

        cells = list(exports.iter_rows(session, campaign.id, org.timezone, "ja"))
        assert cells[1][6] == "支払い手続き中" and cells[2][6] == "期限切れ"
        deadline_column = cells[0].index("お支払い期限（手続き中）")  # before the E.164 phone column (issue 15)
        assert cells[1][deadline_column] == "2030-04-06 10:00:00" and cells[2][deadline_column] == ""

        with api_client(live_server, key) as api:
            body = api.get(f"/api/v1/recipients/{payer.id}").json()
            assert body["status"] == "payment_pending"
            assert body["payment_deadline"] == "2030-04-06T01:00:00Z"
            listed = api.get(f"/api/v1/campaigns/{campaign.id}/recipients").json()["items"]
            assert [r["status"] for r in listed] == ["payment_pending", "expired"]
            filtered = api.get(f"/api/v1/campaigns/{campaign.id}/recipients", params={"status": "payment_pending"})
            assert [r["id"] for r in filtered.json()["items"]] == [payer.id]
            verified = api.get(f"/api/v1/campaigns/{campaign.id}/recipients", params={"status": "verified"})
            assert verified.json()["items"] == []
