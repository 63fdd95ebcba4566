"""Connections per organisation (issue 13): credentials sealed at rest and
shown only by their last four characters, admins only, one default per kind,
the campaign's pick > the organisation's default > the environment's fallback,
and the dispatcher sending each organisation's SMS through its own account."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Invalid
from smspay_app.models import AuditLog, Connection, SendAttempt
from smspay_app.services import connections, sending
from smspay_app.services.auth import NotAllowed
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_caller, make_campaign, make_org
from tests.helpers import start_simulator

TOKEN = "tok-very-secret-0123456789abcdef-WXYZ"


def _twilio(session, caller, **extra):
    fields = {"account_sid": "AC" + "1" * 32, "auth_token": TOKEN, "sender": "+15005550006"}
    fields.update(extra)
    return connections.add(session, caller, kind="sms", provider="twilio", fields=fields, label="本番")


def test_credentials_are_sealed_and_shown_only_by_their_last_four(session):
    org = make_org(session)
    admin = make_caller(session, org, "admin")
    added = _twilio(session, admin)
    session.commit()
    row = session.get(Connection, added.connection_id)
    assert TOKEN not in row.secret_sealed and TOKEN not in row.config and row.secret_sealed.startswith("fernet:")
    assert row.secret_last4 == "WXYZ"
    (shown,) = connections.list_for(session, admin, "sms")
    assert TOKEN not in repr(shown) and shown.secret_hint.endswith("WXYZ")
    assert shown.config == {"account_sid": "AC" + "1" * 32, "sender": "+15005550006"}
    assert shown.status_callback_url.endswith(f"/webhooks/sms/{added.public_id}/status")
    assert added.webhook_secret.startswith("whsec_")
    assert connections.webhook_secret_of(row) == added.webhook_secret
    # The adapter gets the real credentials, in memory only.
    assert connections.spec_of(row).secret == TOKEN
    assert TOKEN not in repr(connections.spec_of(row))
    audit = session.exec(select(AuditLog).where(AuditLog.action == "connection.add")).all()
    assert audit and all(TOKEN not in a.detail for a in audit)


def test_only_admins_manage_connections_and_only_their_own(session):
    org, other = make_org(session), make_org(session, "他社")
    admin, operator = make_caller(session, org, "admin"), make_caller(session, org, "operator")
    with pytest.raises(NotAllowed):
        _twilio(session, operator)
    with pytest.raises(NotAllowed):
        connections.list_for(session, operator)
    added = _twilio(session, admin)
    stranger = make_caller(session, other, "admin")
    with pytest.raises(connections.ConnectionRefused):
        connections.set_default(session, stranger, added.connection_id)
    with pytest.raises(connections.ConnectionRefused):
        connections.disable(session, stranger, added.connection_id)
    assert connections.list_for(session, stranger) == []


def test_required_fields_and_providers_without_an_adapter(session):
    admin = make_caller(session, make_org(session), "admin")
    with pytest.raises(Invalid) as refused:
        connections.add(session, admin, kind="sms", provider="twilio", fields={"account_sid": "AC1"})
    assert [e.field for e in refused.value.errors] == ["auth_token"]
    with pytest.raises(connections.ConnectionRefused):
        connections.add(session, admin, kind="sms", provider="stripe", fields={})
    # Payment connections are stored (the gateways use them in a later change).
    paid = connections.add(
        session, admin, kind="payment", provider="komoju", fields={"secret_key": "sk_test_" + "k" * 20}
    )
    assert session.get(Connection, paid.connection_id).is_default


def test_one_default_per_kind_and_the_route_precedence(session, settings):
    org = make_org(session)
    admin = make_caller(session, org, "admin")
    campaign = make_campaign(session, org, recipients=1)
    # No connection: the environment's account.
    assert connections.sms_route(session, campaign=campaign).connection_id is None
    first = _twilio(session, admin)
    second = connections.add(session, admin, kind="sms", provider="simulator", fields={})
    rows = {c.id: c for c in session.exec(select(Connection))}
    assert rows[first.connection_id].is_default and not rows[second.connection_id].is_default
    assert connections.sms_route(session, campaign=campaign).connection_id == first.connection_id
    connections.set_default(session, admin, second.connection_id)
    session.expire_all()
    defaults = session.exec(select(Connection).where(Connection.is_default == True)).all()  # noqa: E712
    assert [c.id for c in defaults] == [second.connection_id]
    campaign.sms_connection_id = first.connection_id
    assert connections.sms_route(session, campaign=campaign).connection_id == first.connection_id
    connections.disable(session, admin, first.connection_id)
    # A disabled pick falls back to the default, a disabled default to the environment.
    assert connections.sms_route(session, campaign=campaign).connection_id == second.connection_id
    connections.disable(session, admin, second.connection_id)
    assert connections.sms_route(session, campaign=campaign).connection_id is None
    with pytest.raises(connections.ConnectionRefused):
        connections.set_default(session, admin, first.connection_id)


def _stats(base: str) -> dict:
    return httpx.get(base + "/_stats", timeout=5).json()


async def test_two_organisations_each_send_through_their_own_account_once(session, settings):
    sim_a, base_a = start_simulator(settings)
    sim_b, base_b = start_simulator(settings)
    try:
        org_a, org_b = make_org(session, "A社"), make_org(session, "B社")
        for org, base in ((org_a, base_a), (org_b, base_b)):
            admin = make_caller(session, org, "admin")
            connections.add(session, admin, kind="sms", provider="simulator", fields={"api_base": base})
        camp_a = make_campaign(session, org_a, recipients=3)
        camp_b = make_campaign(session, org_b, recipients=2, first_phone=100)
        sending.start_sending(session, camp_a)
        sending.start_sending(session, camp_b)
        session.commit()
        await run_dispatcher_once()
        stats_a, stats_b = _stats(base_a), _stats(base_b)
        assert stats_a["messages"] == 3 and set(stats_a["by_to"].values()) == {1}
        assert stats_b["messages"] == 2 and set(stats_b["by_to"].values()) == {1}
        session.expire_all()
        attempts = session.exec(select(SendAttempt)).all()
        assert {a.status for a in attempts} == {"accepted"}
        by_org = {a.organisation_id: a.sms_connection_id for a in attempts}
        conn_of = {c.organisation_id: c.id for c in session.exec(select(Connection))}
        assert by_org == conn_of
        # The poller asks each message's own account (B's simulator knows only B's).
        from smspay_app.worker.dispatcher import Dispatcher

        dispatcher = Dispatcher()
        try:
            spec, provider = connections.sms_provider_for(session, dispatcher.providers, attempt=attempts[-1])
            assert spec.api_base == base_b
            fetched = await provider.fetch(attempts[-1].provider_message_id)
            assert fetched.sid == attempts[-1].provider_message_id
        finally:
            await dispatcher.aclose()
    finally:
        sim_a.kill()
        sim_b.kill()
        sim_a.wait()
        sim_b.wait()


async def test_test_connection_reports_bad_credentials_and_success(session, settings):
    sim, base = start_simulator(settings)
    try:
        org = make_org(session)
        admin = make_caller(session, org, "admin")
        good = connections.add(session, admin, kind="sms", provider="simulator", fields={"api_base": base})
        bad = connections.add(
            session,
            admin,
            kind="sms",
            provider="simulator",
            fields={"api_base": base, "auth_token": "wrong-token-0000"},
        )
        assert await connections.test(session, admin, good.connection_id) == "ok"
        assert await connections.test(session, admin, bad.connection_id) == "connections.test.bad_credentials"
        audit = session.exec(select(AuditLog).where(AuditLog.action == "connection.test")).all()
        assert [json.loads(a.detail)["result"] for a in audit] == ["ok", "connections.test.bad_credentials"]
        assert all("wrong-token" not in a.detail for a in audit)
    finally:
        sim.kill()
        sim.wait()


def _karaden(session, caller, settings):
    return connections.add(
        session,
        caller,
        kind="sms",
        provider="karaden",
        fields={
            "tenant_id": settings.karaden_sim_tenant_id,
            "service_id": str(settings.karaden_sim_service_id),
            "token": settings.karaden_sim_token,
            "api_base": settings.public_base_url + "/sim/karaden",
        },
    )


async def test_a_via_twilio_and_b_via_karaden_each_sms_reaches_the_right_simulator_once(live_server, session, settings):
    from smspay_app.models import Recipient, TimelineEvent

    org_a, org_b = make_org(session, "A社"), make_org(session, "B社")
    connections.add(
        session,
        make_caller(session, org_a, "admin"),
        kind="sms",
        provider="simulator",
        fields={"api_base": settings.public_base_url + "/sim/twilio"},
    )
    _karaden(session, make_caller(session, org_b, "admin"), settings)
    camp_a = make_campaign(session, org_a, recipients=3)
    camp_b = make_campaign(session, org_b, recipients=4, first_phone=100)
    sending.start_sending(session, camp_a)
    sending.start_sending(session, camp_b)
    session.commit()
    await run_dispatcher_once()
    twilio = httpx.get(settings.public_base_url + "/sim/twilio/_stats", timeout=5).json()
    karaden = httpx.get(settings.public_base_url + "/sim/karaden/_stats", timeout=5).json()
    assert twilio["messages"] == 3 and set(twilio["by_to"].values()) == {1}
    assert karaden["messages"] == 4 and set(karaden["by_to"].values()) == {1}
    b_phones = {r.phone_e164 for r in session.exec(select(Recipient).where(Recipient.campaign_id == camp_b.id))}
    assert {"+81" + p[1:] for p in karaden["by_to"]} == b_phones
    session.expire_all()
    b_attempts = session.exec(select(SendAttempt).where(SendAttempt.organisation_id == org_b.id)).all()
    assert {a.provider for a in b_attempts} == {"karaden"} and {a.status for a in b_attempts} == {"accepted"}
    # Polling Karaden's detail: delivered, and the carrier recorded from the provider.
    for attempt in b_attempts:
        attempt.accepted_at = attempt.accepted_at - timedelta(seconds=settings.sms_status_poll_after_seconds + 1)
        session.add(attempt)
    session.commit()
    await run_dispatcher_once()
    session.expire_all()
    b_attempts = session.exec(select(SendAttempt).where(SendAttempt.organisation_id == org_b.id)).all()
    assert {a.status for a in b_attempts} == {"delivered"}
    recipients = session.exec(select(Recipient).where(Recipient.campaign_id == camp_b.id)).all()
    assert all(r.carrier in ("docomo", "au", "SoftBank", "Rakuten") for r in recipients)
    carrier_events = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "carrier")).all()
    assert len(carrier_events) >= len(recipients)


async def test_karaden_reconciliation_after_a_crash_finds_the_message_by_its_tag(live_server, session, settings):
    from smspay_app.worker.dispatcher import Dispatcher

    org = make_org(session)
    _karaden(session, make_caller(session, org, "admin"), settings)
    campaign = make_campaign(session, org, recipients=2)
    sending.start_sending(session, campaign)
    session.commit()
    dispatcher = Dispatcher()
    try:
        # The worker claims and sends, then "dies" before recording the outcome.
        jobs = await asyncio.to_thread(dispatcher._claim, None)
        outcomes = await dispatcher._send_all(jobs)
        assert all(o.message is not None for o in outcomes)
        assert all(j.request.limited_at is None for j in jobs)  # quiet hours off
        session.expire_all()
        for attempt in session.exec(select(SendAttempt)):
            assert attempt.status == "sending"
            attempt.lease_expires_at = utcnow() - timedelta(seconds=1)
            session.add(attempt)
        session.commit()
        assert await dispatcher.reconcile() == 2
    finally:
        await dispatcher.aclose()
    session.expire_all()
    attempts = session.exec(select(SendAttempt)).all()
    # Found by its tag, and by then Karaden's list already says delivered.
    assert {a.status for a in attempts} == {"delivered"}
    assert sorted(a.provider_message_id for a in attempts) == sorted(o.message.sid for o in outcomes)
    stats = httpx.get(settings.public_base_url + "/sim/karaden/_stats", timeout=5).json()
    assert stats["messages"] == 2 and stats["max_asked"] == 1


async def test_karaden_gets_limited_at_from_the_organisations_quiet_hours(live_server, session, settings):
    from datetime import datetime

    from smspay_app.domain import clock
    from smspay_app.worker.dispatcher import Dispatcher

    org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00")
    _karaden(session, make_caller(session, org, "admin"), settings)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    noon_jst = datetime(2030, 1, 31, 3, 0)  # 12:00 in Tokyo, naive UTC
    with clock.frozen(noon_jst):
        dispatcher = Dispatcher()
        try:
            jobs = await asyncio.to_thread(dispatcher._claim, noon_jst)
        finally:
            await dispatcher.aclose()
    assert [j.request.limited_at for j in jobs] == [datetime(2030, 1, 31, 12, 0)]  # 21:00 JST


def test_an_organisation_on_karaden_gets_the_opt_out_note_and_its_capabilities(session, settings):
    from smspay_app.services import replies, sms_message

    org = make_org(session)
    assert sms_message.opt_out_note(org) == ""  # the simulator carries replies
    _karaden(session, make_caller(session, org, "admin"), settings)
    session.commit()
    assert sms_message.opt_out_note(org) != ""
    provider, _, caps = replies.capabilities_of(session, org.id)
    assert provider == "karaden" and not caps.two_way and caps.carrier


async def test_no_credential_in_logs_api_answers_exports_or_audit_after_a_send(live_server, session, settings, caplog):
    import logging

    from smspay_app.services import exports
    from tests.factories import make_key
    from tests.helpers import api_client

    caplog.set_level(logging.DEBUG)
    org = make_org(session)
    admin = make_caller(session, org, "admin")
    twilio_token = "twilio-auth-token-" + "9" * 20
    connections.add(
        session,
        admin,
        kind="sms",
        provider="twilio",
        fields={"account_sid": "AC" + "2" * 32, "auth_token": twilio_token},
    )
    _karaden(session, admin, settings)
    connections.set_default(
        session, admin, session.exec(select(Connection).where(Connection.provider == "karaden")).one().id
    )
    campaign = make_campaign(session, org, recipients=2)
    sending.start_sending(session, campaign)
    session.commit()
    await run_dispatcher_once()
    key = make_key(session, admin)
    secrets_ = (settings.karaden_sim_token, twilio_token)
    answers = []
    with api_client(live_server, key) as client:
        for path in (
            "/api/v1/sms/capabilities",
            "/api/v1/campaigns",
            f"/api/v1/campaigns/{campaign.id}",
            f"/api/v1/campaigns/{campaign.id}/recipients",
        ):
            response = client.get(path)
            assert response.status_code == 200, path
            answers.append(response.text)
    csv_text = "\n".join(",".join(row) for row in exports.iter_rows(session, campaign.id, "Asia/Tokyo", "ja"))
    audit = " ".join(a.detail for a in session.exec(select(AuditLog)))
    rows = session.exec(select(Connection)).all()
    stored = " ".join(c.config + c.secret_sealed + c.webhook_secret_sealed for c in rows)
    for secret in secrets_:
        assert secret not in caplog.text
        assert all(secret not in text for text in answers)
        assert secret not in csv_text and secret not in audit and secret not in stored
    assert "karaden" in answers[0]  # the capabilities follow the organisation's connection


def test_a_campaign_picks_an_enabled_sms_connection_of_its_own_organisation(session, settings):
    org, other = make_org(session), make_org(session, "他社")
    admin, operator = make_caller(session, org, "admin"), make_caller(session, org, "operator")
    default = connections.add(session, admin, kind="sms", provider="simulator", fields={})
    picked = _karaden(session, admin, settings)
    foreign = connections.add(
        session, make_caller(session, other, "admin"), kind="sms", provider="simulator", fields={}
    )
    paid = connections.add(session, admin, kind="payment", provider="sandbox", fields={})
    campaign = make_campaign(session, org, recipients=1)
    with pytest.raises(NotAllowed):
        connections.choose_for_campaign(session, operator, campaign.id, sms_connection_id=picked.connection_id)
    for wrong in (foreign.connection_id, paid.connection_id):
        with pytest.raises(connections.ConnectionRefused):
            connections.choose_for_campaign(session, admin, campaign.id, sms_connection_id=wrong)
    assert connections.sms_route(session, campaign=campaign).connection_id == default.connection_id
    connections.choose_for_campaign(session, admin, campaign.id, sms_connection_id=picked.connection_id)
    spec = connections.sms_route(session, campaign=campaign)
    assert (spec.connection_id, spec.provider) == (picked.connection_id, "karaden")
    connections.choose_for_campaign(session, admin, campaign.id, sms_connection_id=None)
    assert connections.sms_route(session, campaign=campaign).connection_id == default.connection_id


def test_reconciliation_matches_a_message_by_the_attempt_key_in_its_tags(session):
    from smspay_app.providers.sms.base import ProviderMessage
    from smspay_app.worker.dispatcher import Dispatcher

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    attempt = session.exec(select(SendAttempt)).one()
    other = ProviderMessage(sid="m-other", status="delivered", body="no link here", tags=["someone-else"])
    mine = ProviderMessage(sid="m-mine", status="delivered", body="no link here", tags=[attempt.idempotency_key])
    dispatcher = Dispatcher.__new__(Dispatcher)  # _match needs no provider
    assert dispatcher._match(session, attempt, [other, mine]) is mine
    assert dispatcher._match(session, attempt, [other]) is None
