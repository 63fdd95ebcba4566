"""End to end over real HTTP: campaign -> start_sending -> dispatcher pass ->
the simulator (mounted in the live web app) receives one SMS per recipient with
a working link -> signed status callbacks reach the webhook -> recipients move
to sent / delivered."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import Session, select

from smspay_app.db import get_engine
from smspay_app.models import Campaign, Recipient, SendAttempt, TimelineEvent
from smspay_app.services import sending
from smspay_app.services.links import find_link
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_campaign, make_org
from tests.helpers import wait_until

LINK_RE = re.compile(r"(http://\S+/l/([0-9A-Za-z]{22}))")


def _statuses(campaign_id: int) -> list[str]:
    with Session(get_engine()) as s:
        return [r.status for r in s.exec(select(Recipient).where(Recipient.campaign_id == campaign_id))]


async def test_campaign_is_sent_once_per_recipient_and_callbacks_deliver(live_server, session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=5)
    assert sending.start_sending(session, campaign) == 5
    session.commit()
    assert campaign.status == "sending"

    assert await run_dispatcher_once() == 5
    assert await run_dispatcher_once() == 0  # nothing left to claim: never twice

    with live_server.client() as client:
        stats = client.get("/sim/twilio/_stats").json()
        assert stats["messages"] == 5
        recipients = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
        assert stats["by_to"] == {r.phone_e164: 1 for r in recipients}
        assert stats["max_asked"] == 1

        # Every phone's inbox shows its SMS with a link that opens its own page.
        for r in recipients:
            page = client.get(f"/sim/twilio/inbox/{r.phone_e164}")
            assert page.status_code == 200
            assert f"{r.name}様" in page.text
            url, token = LINK_RE.search(page.text).groups()
            link = find_link(session, token)
            assert link is not None and link.recipient_id == r.id
            opened = httpx.get(url, timeout=10)
            assert opened.status_code == 200
        index = client.get("/sim/twilio/inbox")
        assert all(r.phone_e164 in index.text for r in recipients)

    # Signed callbacks (queued -> sent -> delivered) move everyone to delivered.
    assert wait_until(lambda: set(_statuses(campaign.id)) == {"delivered"}), _statuses(campaign.id)
    session.expire_all()
    for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)):
        assert r.queued_at <= r.sent_at <= r.delivered_at
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    assert {a.status for a in attempts} == {"delivered"}
    assert all(a.provider_message_id and a.provider_message_id.startswith("SM") for a in attempts)
    assert all(a.sending_at and a.accepted_at and a.final_at for a in attempts)

    # The campaign completes once nothing is queued or sending.
    await run_dispatcher_once()
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "active"
    progress = sending.sending_progress(session, campaign.id)
    assert progress["delivered"] == 5 and progress["queued"] == progress["sending"] == 0

    # No personal data in the timeline details.
    for event in session.exec(select(TimelineEvent).where(TimelineEvent.campaign_id == campaign.id)):
        assert "+81" not in event.detail and "顧客" not in event.detail


async def test_failed_messages_and_sender_identity(live_server, session):
    org = make_org(session, sender_id="+815012345678")
    campaign = make_campaign(session, org, recipients=6)
    with live_server.client() as client:
        client.post("/sim/twilio/_control", json={"fail_rate": 1.0, "seed": 1})
    sending.start_sending(session, campaign)
    session.commit()
    assert await run_dispatcher_once() == 6
    assert wait_until(lambda: set(_statuses(campaign.id)) == {"failed"}), _statuses(campaign.id)
    session.expire_all()
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    assert {a.status for a in attempts} <= {"failed", "undelivered"}
    assert all(a.error_code in ("30003", "30008") for a in attempts)
    with live_server.client() as client:
        page = client.get(f"/sim/twilio/inbox/{session.exec(select(Recipient)).first().phone_e164}")
        assert "+815012345678" in page.text


@pytest.mark.parametrize("provider", ["twilio-simulator", "karaden-simulator"])
async def test_sms_path_for_each_provider(live_server, session, settings, provider):
    """The same path for each SMS provider: one SMS per recipient at that
    provider's simulator, a link that opens the recipient's page, the final
    status (Twilio: signed callbacks; Karaden: polling its detail), the campaign
    complete."""
    from datetime import timedelta

    from smspay_app.providers.sms.karaden import KaradenProvider, domestic
    from tests.helpers import add_karaden_connection

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=4)
    if provider == "karaden-simulator":
        add_karaden_connection(session, org, settings, settings.public_base_url + "/sim/karaden")
    assert sending.start_sending(session, campaign) == 4
    session.commit()
    assert await run_dispatcher_once() == 4
    assert await run_dispatcher_once() == 0
    recipients = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    with live_server.client() as client:
        twilio = client.get("/sim/twilio/_stats").json()
        karaden = client.get("/sim/karaden/_stats").json()
    if provider == "karaden-simulator":
        assert twilio["messages"] == 0
        assert karaden["by_to"] == {domestic(r.phone_e164): 1 for r in recipients}
        adapter = KaradenProvider(
            tenant_id=settings.karaden_sim_tenant_id,
            token=settings.karaden_sim_token,
            service_id=settings.karaden_sim_service_id,
            api_base=settings.public_base_url + "/sim/karaden",
        )
        try:
            bodies = {r.id: (await adapter.list_messages(r.phone_e164))[0].body for r in recipients}
        finally:
            await adapter.aclose()
    else:
        assert karaden["messages"] == 0
        assert twilio["by_to"] == {r.phone_e164: 1 for r in recipients}
        with live_server.client() as client:
            bodies = {r.id: client.get(f"/sim/twilio/inbox/{r.phone_e164}").text for r in recipients}
    for r in recipients:
        url, token = LINK_RE.search(bodies[r.id]).groups()
        link = find_link(session, token)
        assert link is not None and link.recipient_id == r.id
        assert httpx.get(url, timeout=10).status_code == 200
    if provider == "karaden-simulator":
        # No callbacks: the poller asks Karaden once the poll delay passed.
        for attempt in session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)):
            attempt.accepted_at -= timedelta(seconds=settings.sms_status_poll_after_seconds + 1)
            session.add(attempt)
        session.commit()
        await run_dispatcher_once()
    assert wait_until(lambda: set(_statuses(campaign.id)) == {"delivered"}), _statuses(campaign.id)
    await run_dispatcher_once()
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "active"
    expected = "karaden" if provider == "karaden-simulator" else "simulator"
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    assert {a.provider for a in attempts} == {expected}
