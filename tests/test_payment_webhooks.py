"""Payment webhooks over real HTTP: signature on the raw body, 300 s tolerance,
event-id deduplication, one payment per success; and the sandbox's
asynchronous methods (bank, convenience store) through the hosted pages."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlmodel import select

from smspay_app.models import Payment, Recipient, WebhookEvent
from smspay_app.providers.payments import signature
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, forms_of, kinds, reload

SECRET = "whsec_sandbox_secret"  # settings default, also used by the sandbox


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _verified_client(live_server, session, **kw):
    j = make_journey(session, **kw)
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    r = client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    assert r.status_code == 303
    return j, client


def _start_payment(live_server, session):
    j, client = _verified_client(live_server, session)
    to_gateway = client.post(f"/l/{j.token}/pay", data={})
    assert to_gateway.status_code == 303
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    return j, client, payment, to_gateway.headers["location"]


def _event(payment: Payment, event_id: str, kind="checkout.session.completed", status="paid", amount=None):
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": payment.provider_session_id,
                    "object": "checkout.session",
                    "payment_status": status,
                    "amount_total": payment.amount_yen if amount is None else amount,
                    "currency": "jpy",
                    "metadata": {"payment_id": str(payment.id)},
                    "payment_method_types": ["card"],
                }
            },
        }
    ).encode()


def _post(live_server, body: bytes, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    with live_server.client() as c:
        return c.post("/webhooks/stripe", content=body, headers=headers)


def test_forged_stale_and_replayed_webhooks_change_nothing(live_server, session):
    j, client, payment, _ = _start_payment(live_server, session)
    body = _event(payment, "evt_1")

    forged = _post(live_server, body, signature.sign_header("whsec_wrong", body))
    tampered = _post(live_server, body.replace(b'"paid"', b'"PAID"'), signature.sign_header(SECRET, body))
    stale = _post(live_server, body, signature.sign_header(SECRET, body, int(time.time()) - 301))
    future = _post(live_server, body, signature.sign_header(SECRET, body, int(time.time()) + 310))
    assert [r.status_code for r in (forged, tampered, stale, future)] == [400, 400, 400, 400]
    assert reload(session, Payment, payment.id).status == "open"
    assert reload(session, Recipient, j.recipient_id).paid_at is None
    assert session.exec(select(WebhookEvent)).all() == []

    good = _post(live_server, body, signature.sign_header(SECRET, body))
    assert good.status_code == 200 and good.json()["result"] == "applied"
    paid_at = reload(session, Recipient, j.recipient_id).paid_at
    assert paid_at is not None

    replay = _post(live_server, body, signature.sign_header(SECRET, body))
    assert replay.status_code == 200 and replay.json()["result"] == "duplicate"
    assert reload(session, Recipient, j.recipient_id).paid_at == paid_at
    assert kinds(session, j.recipient_id).count("paid") == 1
    client.close()


def test_duplicate_success_records_one_payment(live_server, session):
    j, client, payment, _ = _start_payment(live_server, session)
    first = _event(payment, "evt_a")
    second = _event(payment, "evt_b", kind="checkout.session.async_payment_succeeded")
    for body in (first, second, first):
        assert _post(live_server, body, signature.sign_header(SECRET, body)).status_code == 200
    session.expire_all()
    payments = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).all()
    assert [p.status for p in payments] == ["succeeded"]
    assert kinds(session, j.recipient_id).count("paid") == 1
    assert len(session.exec(select(WebhookEvent)).all()) == 2
    # a late failure cannot undo the success
    late = _event(payment, "evt_c", kind="checkout.session.async_payment_failed", status="unpaid")
    assert _post(live_server, late, signature.sign_header(SECRET, late)).status_code == 200
    assert reload(session, Payment, payment.id).status == "succeeded"
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    client.close()


def test_amount_mismatch_is_not_recorded_as_paid(live_server, session):
    j, client, payment, _ = _start_payment(live_server, session)
    body = _event(payment, "evt_m", amount=1)
    assert _post(live_server, body, signature.sign_header(SECRET, body)).json()["result"] == "mismatch"
    assert reload(session, Payment, payment.id).status == "open"
    assert "payment_mismatch" in kinds(session, j.recipient_id)
    client.close()


def _choose(client: httpx.Client, checkout_url: str, method: str, outcome: str) -> httpx.Response:
    hosted = client.get(checkout_url)
    form = forms_of(hosted.text)[0]
    return client.post(form["action"] or checkout_url, data={"method": method, "outcome": outcome})


def test_konbini_stays_processing_until_marked_paid(live_server, session):
    j, client, payment, checkout_url = _start_payment(live_server, session)
    back = _choose(client, checkout_url, "konbini", "success")
    assert back.status_code == 303
    done = client.get(back.headers["location"])
    assert "お支払い手続き中です" in done.text
    assert reload(session, Payment, payment.id).status == "processing"
    assert reload(session, Recipient, j.recipient_id).paid_at is None
    # a pending payment cannot be started twice
    again = client.post(f"/l/{j.token}/pay", data={})
    assert again.status_code == 303 and again.headers["location"] == f"/l/{j.token}"

    pending = client.get("/sim/stripe/pending")
    mark = form_to(pending.text, payment.provider_session_id)
    marked = client.post(mark["action"], data={"result": "paid"})
    assert marked.status_code == 303
    assert reload(session, Payment, payment.id).status == "succeeded"
    assert reload(session, Payment, payment.id).method == "konbini"
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    assert "お支払いありがとうございました" in client.get(f"/l/{j.token}/done").text
    client.close()


def test_bank_success_and_failure_then_retry(live_server, session):
    j, client, payment, checkout_url = _start_payment(live_server, session)
    back = _choose(client, checkout_url, "bank", "failure")
    failed = client.get(back.headers["location"])
    assert reload(session, Payment, payment.id).status == "failed"
    assert "お支払いが完了しませんでした" in failed.text
    retry = form_to(failed.text, "/pay")
    to_gateway = client.post(retry["action"], data=retry["fields"])
    assert to_gateway.status_code == 303
    back = _choose(client, to_gateway.headers["location"], "bank", "success")
    assert "お支払いありがとうございました" in client.get(back.headers["location"]).text
    session.expire_all()
    statuses = sorted(p.status for p in session.exec(select(Payment)).all())
    assert statuses == ["failed", "succeeded"]
    client.close()


def test_card_decline_stays_on_gateway_and_cancel_returns(live_server, session):
    j, client, payment, checkout_url = _start_payment(live_server, session)
    declined = _choose(client, checkout_url, "card", "failure")
    assert declined.status_code == 200 and "カードが拒否されました" in declined.text  # Japanese by default (item 11)
    cancel = _choose(client, checkout_url, "card", "cancel")
    assert cancel.headers["location"].endswith(f"/l/{j.token}/cancelled")
    page = client.get(cancel.headers["location"])
    assert "お支払いを中断しました" in page.text and form_to(page.text, "/pay")
    assert reload(session, Payment, payment.id).status == "open"
    assert reload(session, Recipient, j.recipient_id).paid_at is None
    client.close()


def test_waiting_page_refreshes_until_webhook(live_server, session):
    j, client, payment, _ = _start_payment(live_server, session)
    waiting = client.get(f"/l/{j.token}/done")
    assert 'http-equiv="refresh" content="3"' in waiting.text
    body = _event(payment, "evt_w")
    _post(live_server, body, signature.sign_header(SECRET, body))
    assert "お支払いありがとうございました" in client.get(f"/l/{j.token}/done").text
    client.close()


def test_pay_requires_verified_session(live_server, session):
    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as anon:
        r = anon.post(f"/l/{j.token}/pay", data={}, follow_redirects=True)  # post/redirect/get (issue 14)
        assert r.status_code == 200 and "ご本人確認" in r.text
        assert anon.get(f"/l/{j.token}/done", follow_redirects=True).text.count("ご本人確認") >= 1
    assert session.exec(select(Payment)).all() == []


def test_signature_unit():
    body = b'{"id":"evt"}'
    header = signature.sign_header("s", body, 1_000)
    assert signature.verify_header("s", body, header, now=1_000 + 300) == 1_000
    for bad in (None, "", "t=1000", "v1=abc", header.replace("t=1000", "t=1001")):
        with pytest.raises(signature.SignatureError):
            signature.verify_header("s", body, bad, now=1_000)
    with pytest.raises(signature.SignatureError):
        signature.verify_header("s", body, header, now=1_000 + 301)
    # rolled secrets: any matching v1 is accepted
    rolled = f"{header},v1={'0' * 64}"
    assert signature.verify_header("s", body, rolled, now=1_000) == 1_000
