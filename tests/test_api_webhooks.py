"""Outbound webhooks: deliveries queued in the same transaction as the
recipient event, signed Standard-Webhooks style (checked by a real HTTP
receiver with its own HMAC code), retried with backoff, marked delivered
once, re-sendable; only subscribed events of the endpoint's organisation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, WebhookDelivery
from smspay_app.services import timeline, webhooks
from smspay_app.worker import outbound
from tests.factories import make_admin, make_campaign, make_org


class Receiver:
    """A real HTTP server: verifies each request's signature with its own code
    (as an integrator would) and answers 500 for the first ``fail_first`` requests."""

    def __init__(self, secret: str = "", fail_first: int = 0):
        self.secret, self.fail_first = secret, fail_first
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append({"headers": headers, "body": body, "valid": receiver.valid(headers, body)})
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"try later" if failing else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def valid(self, headers: dict, body: bytes) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        fresh = abs(time.time() - int(headers["webhook-timestamp"])) <= 300
        return fresh and any(s == f"v1,{expected}" for s in headers["webhook-signature"].split())

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _setup(session, receiver, events=("recipient.delivered", "recipient.paid")):
    org = make_org(session)
    admin = make_admin(session, org)
    endpoint, secret = webhooks.create_endpoint(session, admin, receiver.url, list(events))
    receiver.secret = secret
    campaign = make_campaign(session, org, recipients=2)
    recipients = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    return admin, endpoint, recipients


def _deliveries(session):
    session.expire_all()
    return session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


async def test_signed_event_reaches_a_receiver_that_verifies_it(settings, session, receiver):
    admin, endpoint, (r1, r2) = _setup(session, receiver)
    r1.external_ref = "ORDER-1"
    timeline.record(session, r1, "sms_delivered", step="delivered")
    timeline.record(session, r1, "click", step="clicked")  # not subscribed
    timeline.record(session, r1, "sms_failed", step="failed")  # late failure after delivery: no event
    session.commit()
    assert [d.event_type for d in _deliveries(session)] == ["recipient.delivered"]

    assert await outbound.run_once() == 1
    (request,) = receiver.requests
    assert request["valid"] is True
    assert webhooks.verify(receiver.secret, request["headers"], request["body"])
    assert not webhooks.verify(receiver.secret, request["headers"], request["body"] + b" ")
    assert not webhooks.verify("whsec_" + base64.b64encode(b"x" * 24).decode(), request["headers"], request["body"])
    event = json.loads(request["body"])
    assert event["type"] == "recipient.delivered" and event["id"] == request["headers"]["webhook-id"]
    assert event["data"]["recipient_id"] == r1.id and event["data"]["reference"] == "ORDER-1"
    assert event["data"]["steps"]["delivered"] is not None
    assert "phone" not in request["body"].decode() and r1.phone_e164 not in request["body"].decode()
    (d,) = _deliveries(session)
    assert d.status == "delivered" and d.attempts == 1 and d.last_status_code == 200 and d.last_response_excerpt == "ok"
    assert await outbound.run_once() == 0  # never again


async def test_receiver_failing_twice_then_succeeding_gets_the_event_once_marked_delivered(settings, session, receiver):
    admin, endpoint, (r1, _) = _setup(session, receiver)
    receiver.fail_first = 2
    timeline.record(session, r1, "paid", step="paid")
    session.commit()
    t0 = utcnow()

    assert await outbound.run_once(now=t0) == 1  # 500
    (d,) = _deliveries(session)
    assert d.status == "pending" and d.attempts == 1 and d.last_status_code == 500
    assert d.next_attempt_at == t0 + timedelta(seconds=30)
    assert await outbound.run_once(now=t0 + timedelta(seconds=29)) == 0  # backing off
    assert await outbound.run_once(now=t0 + timedelta(seconds=31)) == 1  # 500 again
    (d,) = _deliveries(session)
    assert d.attempts == 2 and d.next_attempt_at == t0 + timedelta(seconds=31) + timedelta(minutes=2)
    assert await outbound.run_once(now=t0 + timedelta(minutes=3)) == 1  # 200
    assert await outbound.run_once(now=t0 + timedelta(days=1)) == 0

    (d,) = _deliveries(session)
    assert d.status == "delivered" and d.attempts == 3 and d.delivered_at is not None
    assert len(receiver.requests) == 3 and all(r["valid"] for r in receiver.requests)
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # one event, deduplicable
    assert len({r["body"] for r in receiver.requests}) == 1

    # re-send from the UI: a new delivery of the same event
    copy = webhooks.resend(session, admin, d.id)
    session.commit()  # the service flushes; the page handler would commit
    assert await outbound.run_once() == 1
    assert receiver.requests[-1]["headers"]["webhook-id"] == receiver.requests[0]["headers"]["webhook-id"]
    assert [x.status for x in _deliveries(session)] == ["delivered", "delivered"] and copy.resent_from_id == d.id


async def test_retries_for_more_than_three_days_then_give_up(settings, session):
    dead = Receiver(fail_first=10**6)
    try:
        admin, endpoint, (r1, _) = _setup(session, dead)
        timeline.record(session, r1, "sms_delivered", step="delivered")
        session.commit()
        t0 = utcnow()
        now, tries = t0, 0
        while True:
            tried = await outbound.run_once(now=now)
            tries += tried
            (d,) = _deliveries(session)
            if d.status == "failed":
                break
            now = d.next_attempt_at
        assert now - t0 >= timedelta(days=3)
        assert tries == len(dead.requests) == d.attempts and 8 <= tries <= 16
    finally:
        dead.close()


def test_only_subscribed_events_of_the_own_organisation_are_queued(settings, session, receiver):
    admin, endpoint, (r1, _) = _setup(session, receiver, events=("recipient.replied",))
    other_org = make_org(session, "他社")
    other_campaign = make_campaign(session, other_org, recipients=1, first_phone=50)
    other = session.exec(select(Recipient).where(Recipient.campaign_id == other_campaign.id)).one()
    timeline.record(session, other, "sms_reply", detail={})
    timeline.record(session, r1, "sms_delivered", step="delivered")
    timeline.record(session, r1, "sms_reply", detail={})
    session.commit()
    assert [(d.event_type, d.organisation_id) for d in _deliveries(session)] == [
        ("recipient.replied", r1.organisation_id)
    ]
    # a disabled endpoint gets nothing new
    webhooks.set_active(session, admin, endpoint.id, False)
    timeline.record(session, r1, "sms_reply", detail={})
    session.commit()
    assert len(_deliveries(session)) == 1


def test_rolled_back_events_queue_nothing(settings, session, receiver):
    admin, endpoint, (r1, _) = _setup(session, receiver)
    timeline.record(session, r1, "sms_delivered", step="delivered")
    session.rollback()
    assert _deliveries(session) == []
