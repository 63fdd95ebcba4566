"""Regressions found in the security review (one test per fix)."""

from __future__ import annotations

import asyncio

import httpx

from smspay_app.settings import get_settings


def _paths(app) -> set[str]:
    return {getattr(r, "path", "") for r in app.routes}


def test_simulators_not_mounted_with_real_providers(settings, monkeypatch):
    """With Twilio / Stripe configured, the built-in simulators (which sign
    what they post with the real auth token / webhook secret and have
    unauthenticated reply and control endpoints) must not be reachable:
    otherwise anyone could forge a signed inbound SMS (an opt-out) by POSTing
    to /sim/twilio/_reply."""
    from smspay_app.web.app import build_web_app

    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    monkeypatch.setenv("SMSPAY_TWILIO_AUTH_TOKEN", "real-twilio-token")
    monkeypatch.setenv("SMSPAY_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("SMSPAY_STRIPE_WEBHOOK_SECRET", "whsec_real")
    get_settings.cache_clear()
    app = build_web_app()
    paths = _paths(app)
    assert "/sim/twilio" not in paths and "/sim/stripe" not in paths

    async def probe() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                (await client.post("/sim/twilio/_reply", json={"from": "+819012345678", "body": "STOP"})).status_code,
                (await client.get("/sim/twilio/inbox")).status_code,
                (await client.get("/sim/stripe/pending")).status_code,
            ]

    assert asyncio.run(probe()) == [404, 404, 404]


def test_simulators_mounted_by_default(settings):
    from smspay_app.web.app import build_web_app

    paths = _paths(build_web_app())
    assert "/sim/twilio" in paths and "/sim/stripe" in paths


def test_reply_to_one_organisation_never_lands_in_another(session, settings):
    """A reply sent to organisation A's sender number, from a phone that only
    organisation B has as a recipient, must not be stored in B's inbox nor
    opt the phone out of B (it used to fall back to "any organisation")."""
    from sqlmodel import select

    from smspay_app.models import InboundMessage, OptOut, Recipient
    from smspay_app.services import replies
    from tests.factories import make_campaign, make_org

    org_a = make_org(session, "A社", sender_id="+815011112222")
    org_b = make_org(session, "B社", sender_id="+815033334444")
    make_campaign(session, org_a, recipients=1, first_phone=100)
    make_campaign(session, org_b, recipients=1, first_phone=200)
    phone_b = session.exec(select(Recipient).where(Recipient.organisation_id == org_b.id)).one().phone_e164

    message = replies.handle_inbound(
        session, from_phone=phone_b, to_phone=org_a.sender_id, body="STOP", provider_message_id="SMx1"
    )
    session.commit()
    assert message is not None and message.organisation_id is None and message.recipient_id is None
    assert session.exec(select(OptOut).where(OptOut.organisation_id == org_b.id)).first() is None
    assert session.exec(select(Recipient).where(Recipient.phone_e164 == phone_b)).one().status != "opted_out"
    # Sent to B's own number, the same reply is B's.
    message = replies.handle_inbound(
        session, from_phone=phone_b, to_phone=org_b.sender_id, body="STOP", provider_message_id="SMx2"
    )
    session.commit()
    assert message.organisation_id == org_b.id
    assert session.exec(select(InboundMessage).where(InboundMessage.organisation_id == org_b.id)).one().id == message.id
