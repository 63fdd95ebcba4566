"""Webhooks per connection (issue 13): each SMS connection has its own callback
URLs, verified with that connection's credentials and applied only to its
organisation's data; a callback signed for one connection and posted to
another's URL is refused and changes nothing."""

from __future__ import annotations

import uuid

from sqlmodel import select

from smspay_app.models import InboundMessage, Recipient, SendAttempt
from smspay_app.providers.sms.signature import compute_signature
from smspay_app.services import connections, sending
from tests.factories import make_caller, make_campaign, make_org


def _org_with_connection(session, name, token, first_phone):
    org = make_org(session, name)
    admin = make_caller(session, org, "admin")
    added = connections.add(
        session,
        admin,
        kind="sms",
        provider="twilio",
        fields={"account_sid": "AC" + uuid.uuid4().hex, "auth_token": token},
    )
    campaign = make_campaign(session, org, recipients=1, first_phone=first_phone)
    sending.start_sending(session, campaign)
    session.commit()
    attempt = session.exec(select(SendAttempt).where(SendAttempt.organisation_id == org.id)).one()
    attempt.status = "accepted"
    attempt.provider = "twilio"
    attempt.sms_connection_id = added.connection_id
    attempt.provider_message_id = "SM" + uuid.uuid4().hex
    session.add(attempt)
    session.commit()
    return added, attempt


def _post(client, settings, path, params, token):
    headers = {
        "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
        "X-Twilio-Signature": compute_signature(token, settings.public_base_url + path, params),
    }
    return client.post(path, data=params, headers=headers)


def test_a_callback_signed_for_one_connection_is_refused_at_anothers_url(live_server, session, settings):
    token_a, token_b = "token-a-" + uuid.uuid4().hex, "token-b-" + uuid.uuid4().hex
    conn_a, attempt_a = _org_with_connection(session, "A社", token_a, 0)
    conn_b, attempt_b = _org_with_connection(session, "B社", token_b, 100)
    status_a = f"/webhooks/sms/{conn_a.public_id}/status"
    status_b = f"/webhooks/sms/{conn_b.public_id}/status"
    with live_server.client() as client:
        # A's secret on B's URL: refused.
        r = _post(
            client,
            settings,
            status_b,
            {"MessageSid": attempt_a.provider_message_id, "MessageStatus": "failed"},
            token_a,
        )
        assert r.status_code == 403
        # The environment's token is no key to a connection either.
        r = _post(
            client,
            settings,
            status_b,
            {"MessageSid": attempt_b.provider_message_id, "MessageStatus": "failed"},
            settings.twilio_auth_token,
        )
        assert r.status_code == 403
        # Correctly signed for B, but about A's message: B's URL never reaches A's data.
        r = _post(
            client,
            settings,
            status_b,
            {"MessageSid": attempt_a.provider_message_id, "MessageStatus": "failed"},
            token_b,
        )
        assert r.status_code == 200
        # Unknown connection.
        r = _post(
            client, settings, "/webhooks/sms/cn_nope/status", {"MessageSid": "SMx", "MessageStatus": "sent"}, token_a
        )
        assert r.status_code == 404
        session.expire_all()
        assert session.get(SendAttempt, attempt_a.id).status == "accepted"
        assert session.get(SendAttempt, attempt_b.id).status == "accepted"
        # A's own callback on A's URL is applied.
        r = _post(
            client,
            settings,
            status_a,
            {"MessageSid": attempt_a.provider_message_id, "MessageStatus": "delivered"},
            token_a,
        )
        assert r.status_code == 204
    session.expire_all()
    assert session.get(SendAttempt, attempt_a.id).status == "delivered"
    assert session.get(SendAttempt, attempt_b.id).status == "accepted"


def test_a_reply_through_a_connection_lands_only_in_its_organisation(live_server, session, settings):
    token_a, token_b = "token-a-" + uuid.uuid4().hex, "token-b-" + uuid.uuid4().hex
    conn_a, attempt_a = _org_with_connection(session, "A社", token_a, 0)
    _, attempt_b = _org_with_connection(session, "B社", token_b, 0)  # the same phone number in both
    phone = session.get(Recipient, attempt_a.recipient_id).phone_e164
    assert session.get(Recipient, attempt_b.recipient_id).phone_e164 == phone
    with live_server.client() as client:
        r = _post(
            client,
            settings,
            f"/webhooks/sms/{conn_a.public_id}/inbound",
            {"From": phone, "To": "+815000000000", "Body": "STOP", "MessageSid": "SM" + uuid.uuid4().hex},
            token_a,
        )
        assert r.status_code == 200
    session.expire_all()
    (message,) = session.exec(select(InboundMessage)).all()
    assert message.organisation_id == attempt_a.organisation_id and message.is_opt_out
    assert session.get(Recipient, attempt_a.recipient_id).status == "opted_out"
    assert session.get(Recipient, attempt_b.recipient_id).status != "opted_out"
