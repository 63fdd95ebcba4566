"""Status and inbound webhooks over real HTTP: signatures checked on the public
URL, forged / unsigned callbacks refused with 403 and changing nothing, a
retried delivery (same idempotency token) acknowledged with 2xx and changing
nothing; replies stored, opt-out words honoured."""

from __future__ import annotations

import uuid

from sqlmodel import select

from smspay_app.models import InboundMessage, OptOut, Recipient, SendAttempt, TimelineEvent
from smspay_app.providers.sms.signature import compute_signature, verify_signature
from smspay_app.services import sending
from tests.factories import make_campaign, make_org


def test_signature_matches_twilio_documented_example():
    # Twilio's documentation example (auth token 12345).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert compute_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert verify_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify_signature("12345", url, {**params, "Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not verify_signature("12345", url, params, None)


def _accepted_attempt(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    attempt = session.exec(select(SendAttempt)).one()
    attempt.status = "accepted"
    attempt.provider_message_id = "SM" + uuid.uuid4().hex
    session.add(attempt)
    session.commit()
    return attempt


def _post(client, settings, path, params, *, token=None, headers=None, sign_url=None):
    url = settings.public_base_url + path
    h = {"I-Twilio-Idempotency-Token": uuid.uuid4().hex}
    if token is not None:
        h["X-Twilio-Signature"] = compute_signature(token, sign_url or url, params)
    h.update(headers or {})
    return client.post(path, data=params, headers=h)


def test_forged_and_unsigned_callbacks_are_refused_and_retries_change_nothing(live_server, session, settings, caplog):
    attempt = _accepted_attempt(session)
    path = f"/webhooks/twilio/status?ref={attempt.idempotency_key}"
    params = {"MessageSid": attempt.provider_message_id, "MessageStatus": "delivered", "AccountSid": "AC1"}
    events_before = len(session.exec(select(TimelineEvent)).all())
    with live_server.client() as client:
        assert _post(client, settings, path, params).status_code == 403  # unsigned
        assert _post(client, settings, path, params, token="not-the-token").status_code == 403  # forged key
        # Signed for other parameters / another URL: refused too.
        other = {**params, "MessageStatus": "sent"}
        h = {
            "X-Twilio-Signature": compute_signature(settings.twilio_auth_token, settings.public_base_url + path, other)
        }
        assert client.post(path, data=params, headers=h).status_code == 403
        assert (
            _post(
                client, settings, path, params, token=settings.twilio_auth_token, sign_url="http://evil.example/x"
            ).status_code
            == 403
        )
        session.expire_all()
        assert session.get(SendAttempt, attempt.id).status == "accepted"
        assert session.get(Recipient, attempt.recipient_id).status == "queued"
        assert len(session.exec(select(TimelineEvent)).all()) == events_before

        # The genuine callback is applied; Twilio retrying it (same idempotency
        # token) gets a 2xx (so it stops retrying) and changes nothing.
        token = "replay-" + uuid.uuid4().hex
        good = _post(
            client,
            settings,
            path,
            params,
            token=settings.twilio_auth_token,
            headers={"I-Twilio-Idempotency-Token": token},
        )
        assert good.status_code == 204
        session.expire_all()
        assert session.get(SendAttempt, attempt.id).status == "delivered"
        recipient = session.get(Recipient, attempt.recipient_id)
        assert recipient.status == "delivered"
        delivered_at = recipient.delivered_at
        events = len(session.exec(select(TimelineEvent)).all())
        again = _post(
            client,
            settings,
            path,
            params,
            token=settings.twilio_auth_token,
            headers={"I-Twilio-Idempotency-Token": token},
        )
        assert again.status_code == 200  # was 403: Twilio would have kept retrying
        session.expire_all()
        assert session.get(Recipient, attempt.recipient_id).delivered_at == delivered_at
        assert len(session.exec(select(TimelineEvent)).all()) == events
    assert any("refused" in r.getMessage() for r in caplog.records)
    assert not any("+81" in r.getMessage() for r in caplog.records)


def test_callback_before_the_worker_records_the_sid_finds_the_attempt_by_ref(live_server, session, settings):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    attempt = session.exec(select(SendAttempt)).one()
    attempt.status = "sending"  # as if the provider call is still in flight
    session.add(attempt)
    session.commit()
    path = f"/webhooks/twilio/status?ref={attempt.idempotency_key}"
    with live_server.client() as client:
        r = _post(
            client, settings, path, {"MessageSid": "SMabc", "MessageStatus": "sent"}, token=settings.twilio_auth_token
        )
        assert r.status_code == 204
    session.expire_all()
    a = session.get(SendAttempt, attempt.id)
    assert (a.status, a.provider_message_id) == ("sent", "SMabc")
    assert session.get(Recipient, a.recipient_id).status == "sent"


def test_reply_from_simulator_inbox_is_stored_and_stop_opts_out(live_server, session, settings):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=2)
    other = make_campaign(session, org, recipients=2, name="次回")  # same phones, not sent yet
    sending.start_sending(session, campaign)
    session.commit()
    import asyncio

    from smspay_app.worker import run_dispatcher_once

    asyncio.run(run_dispatcher_once())
    phone = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).first().phone_e164
    with live_server.client() as client:
        # A plain reply through the JSON endpoint: stored against the latest recipient.
        r = client.post("/sim/twilio/_reply", json={"from": phone, "body": "ありがとうございます"})
        assert r.json()["webhook_status"] == 200
        # An opt-out through the inbox page's form.
        page = client.post(f"/sim/twilio/inbox/{phone}/reply", data={"body": "配信停止"}, follow_redirects=True)
        assert page.status_code == 200 and "配信停止" in page.text
    session.expire_all()
    inbound = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [m.is_opt_out for m in inbound] == [False, True]
    latest = session.exec(select(Recipient).where(Recipient.phone_e164 == phone).order_by(Recipient.id.desc())).first()
    assert inbound[0].recipient_id == latest.id and latest.campaign_id == other.id
    assert session.exec(select(OptOut).where(OptOut.phone_e164 == phone)).one().source == "reply"
    assert latest.status == "opted_out"
    # The second campaign skips the opted-out number.
    assert sending.start_sending(session, other) == 1
    session.commit()
    assert {r.status for r in session.exec(select(Recipient).where(Recipient.campaign_id == other.id))} == {
        "opted_out",
        "queued",
    }


def test_unsigned_inbound_is_refused(live_server, session):
    with live_server.client() as client:
        r = client.post("/webhooks/twilio/inbound", data={"From": "+819011112222", "Body": "STOP"})
        assert r.status_code == 403
    assert session.exec(select(InboundMessage)).all() == []
    assert session.exec(select(OptOut)).all() == []


def test_a_retried_inbound_reply_is_acknowledged_and_stored_once(live_server, session, settings):
    params = {"From": "+819011112222", "To": "SMSPAY", "Body": "ありがとう", "MessageSid": "SM" + uuid.uuid4().hex}
    token = uuid.uuid4().hex
    with live_server.client() as client:
        for _ in range(2):  # Twilio retrying the same delivery
            r = _post(
                client,
                settings,
                "/webhooks/twilio/inbound",
                params,
                token=settings.twilio_auth_token,
                headers={"I-Twilio-Idempotency-Token": token},
            )
            assert r.status_code == 200 and "<Response/>" in r.text
    assert len(session.exec(select(InboundMessage)).all()) == 1


def test_opting_out_by_reply_sends_one_confirmation_sms(live_server, session, settings):
    from smspay_app.models import TimelineEvent

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    import asyncio

    from smspay_app.worker import run_dispatcher_once

    asyncio.run(run_dispatcher_once())
    phone = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).one().phone_e164

    def texts_to_phone(client) -> list[str]:
        listing = client.get(
            f"/sim/twilio/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
            params={"To": phone},
            auth=(settings.twilio_account_sid, settings.twilio_auth_token),
        ).json()["messages"]
        return [m["body"] for m in listing]

    with live_server.client() as client:
        before = texts_to_phone(client)
        assert client.post("/sim/twilio/_reply", json={"from": phone, "body": "停止"}).json()["webhook_status"] == 200
        after = texts_to_phone(client)
        confirmations = [b for b in after if "配信停止を受け付けました" in b]
        assert len(after) == len(before) + 1 and len(confirmations) == 1
        assert org.name in confirmations[0]
        # Saying it again changes nothing and sends nothing more.
        assert client.post("/sim/twilio/_reply", json={"from": phone, "body": "STOP"}).json()["webhook_status"] == 200
        assert len(texts_to_phone(client)) == len(after)
        # A plain reply is not confirmed either.
        client.post("/sim/twilio/_reply", json={"from": phone, "body": "ありがとう"})
        assert len(texts_to_phone(client)) == len(after)
    session.expire_all()
    kinds = [e.kind for e in session.exec(select(TimelineEvent).order_by(TimelineEvent.id))]
    assert kinds.count("opt_out_confirmed") == 1
