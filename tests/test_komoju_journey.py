"""KOMOJU as the installation's payment gateway (``SMSPAY_PAYMENT_PROVIDER=
komoju``, the embedded KOMOJU sandbox at /sim/komoju): the recipient pays on
the sandbox's hosted page; konbini and Pay-easy numbers come back by signed
``payment.authorized`` webhooks and show on the recipient's own page; paying
at the store (the sandbox's simulator page) captures; a support refund goes
through KOMOJU; forged or stale webhooks change nothing."""

from __future__ import annotations

import json
import time

import pytest
from sqlmodel import select

from smspay_app.models import Organisation, Payment, Recipient
from smspay_app.providers.payments import komoju_sandbox
from smspay_app.providers.payments.komoju import sign
from smspay_app.services import actions, journey, payments
from smspay_app.web import recipient as recipient_web
from tests.factories import make_caller, make_journey
from tests.helpers import BROWSER_UA, forms_of, kinds, reload, wait_until


@pytest.fixture(autouse=True)
def _komoju_fallback(monkeypatch):
    """Runs before ``settings`` (autouse first): KOMOJU is the fallback gateway."""
    monkeypatch.setenv("SMSPAY_PAYMENT_PROVIDER", "komoju")
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _to_hosted_page(live_server, session, lang: str = "ja"):
    j = make_journey(session, recipient_language=lang)
    client = live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": lang})
    q1, q2 = j.question_ids
    client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    to_gateway = client.post(f"/l/{j.token}/pay", data={})
    assert to_gateway.status_code == 303 and "/sim/komoju/sessions/" in to_gateway.headers["location"]
    hosted = client.get(to_gateway.headers["location"])
    assert hosted.status_code == 200
    return j, client, hosted


def _choose(client, hosted, **choice: str):
    form = forms_of(hosted.text)[0]
    back = client.post(form["action"], data={"outcome": "success", **choice})
    assert back.status_code == 303 and "session_id=" in back.headers["location"]
    return client.get(back.headers["location"])


def _payment(session, j) -> Payment:
    session.expire_all()
    return session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()


def test_konbini_through_komoju_voucher_then_paid_at_the_store_then_refunded(live_server, session):
    j, client, hosted = _to_hosted_page(live_server, session)
    text = hosted.text
    for label in ("クレジットカード", "コンビニ払い", "銀行振込", "ペイジー", "PayPay", "セブン-イレブン"):
        assert label in text
    assert "<script" not in text and "テスト電力株式会社" in text  # who is paid
    page = _choose(client, hosted, payment_type="konbini", store="lawson")
    payment = _payment(session, j)
    assert payment.status == "processing" and payment.method == "konbini" and payment.provider == "komoju"
    komoju = client.get(f"/sim/komoju/api/v1/payments/{payment.provider_payment_intent}", auth=("x", ""))
    assert komoju.status_code == 401  # the API needs the secret key, even from this machine
    voucher = json.loads(payment.voucher_json)["konbini_display_details"]
    numbers = voucher["stores"]["lawson"]
    assert numbers["payment_code"].isdigit() and numbers["confirmation_number"].isdigit()
    # on the recipient's own page: the store, both numbers, the deadline and KOMOJU's instructions
    assert "コンビニでのお支払い" in page.text and "ローソン" in page.text
    assert numbers["payment_code"] in page.text and numbers["confirmation_number"] in page.text
    assert voucher["hosted_voucher_url"] in page.text and "お支払い期限" in page.text
    assert payment.expires_at is not None
    assert client.get(voucher["hosted_voucher_url"]).status_code == 200

    # the sandbox's own page: pay at the store
    pending = client.get("/sim/komoju/pending")
    assert "店頭で支払う" in pending.text
    paid = client.post(f"/sim/komoju/pending/{payment.provider_payment_intent}", data={"result": "captured"})
    assert paid.status_code == 303
    assert reload(session, Payment, payment.id).status == "succeeded"
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    assert kinds(session, j.recipient_id).count("paid") == 1

    deliveries = client.get("/sim/komoju/_deliveries").json()["deliveries"]
    assert [d["type"] for d in deliveries] == ["payment.authorized", "payment.captured"]
    assert {d["status"] for d in deliveries} == {200}

    # KOMOJU refunds a konbini payment only by a manual refund request: support is told so
    org = session.get(Organisation, session.get(Recipient, j.recipient_id).organisation_id)
    admin = make_caller(session, org, "admin")
    with pytest.raises(actions.ActionRefused) as refused:
        actions.refund_payment(session, admin, j.recipient_id, 2_340, "お客様のご依頼")
    assert refused.value.key == "ops.error.refund_gateway" and "refund request" in str(refused.value.fields)
    assert reload(session, Payment, payment.id).refunded_yen == 0
    client.close()


def test_pay_easy_numbers_on_the_recipients_page_in_english(live_server, session):
    j, client, hosted = _to_hosted_page(live_server, session, lang="en")
    assert "Pay-easy" in hosted.text and "Convenience store" in hosted.text
    page = _choose(client, hosted, payment_type="pay_easy")
    payment = _payment(session, j)
    assert payment.status == "processing" and payment.method == "pay_easy"
    numbers = json.loads(payment.voucher_json)["pay_easy_display_details"]
    assert "Pay with Pay-easy" in page.text
    for label, name in (("Biller number", "bank_id"), ("Customer number", "customer_id")):
        assert label in page.text and numbers[name] in page.text
    assert numbers["confirmation_id"] in page.text
    # and by SMS on request, the same numbers
    org = session.get(Organisation, payment.organisation_id)
    text = payments.voucher_sms_text(org, payment, "ja")
    assert text is not None and "ペイジー" in text and "収納機関番号" + numbers["bank_id"] in text
    assert numbers["customer_id"] in text and numbers["confirmation_id"] in text and numbers["instructions_url"] in text
    client.post(f"/sim/komoju/pending/{payment.provider_payment_intent}", data={"result": "expired"})
    assert reload(session, Payment, payment.id).status == "expired"
    client.close()


@pytest.mark.parametrize("kind", ["credit_card", "paypay"])
def test_card_and_paypay_capture_at_once(live_server, session, kind: str):
    j, client, hosted = _to_hosted_page(live_server, session)
    page = _choose(client, hosted, payment_type=kind)
    payment = _payment(session, j)
    assert payment.status == "succeeded" and payment.method == {"credit_card": "card"}.get(kind, kind)
    assert payment.provider_payment_intent and "お支払いありがとうございました" in page.text
    # a support refund goes through KOMOJU
    org = session.get(Organisation, session.get(Recipient, j.recipient_id).organisation_id)
    actions.refund_payment(session, make_caller(session, org, "admin"), j.recipient_id, 2_340, "お客様のご依頼")
    session.commit()
    assert reload(session, Payment, payment.id).refunded_yen == 2_340
    from smspay_app.services.connections import environment_gateway

    gateway = environment_gateway()
    shown = gateway.retrieve_payment(payment.provider_payment_intent)  # type: ignore[attr-defined]
    assert shown["amount_refunded"] == 2_340 and shown["status"] == "captured"

    def delivered() -> list[str]:
        return [d["type"] for d in client.get("/sim/komoju/_deliveries").json()["deliveries"]]

    wait_until(lambda: delivered() == ["payment.captured", "payment.refunded"], timeout=10)
    assert reload(session, Payment, payment.id).status == "succeeded"  # payment.refunded moves nothing back
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    client.close()


def test_forged_or_stale_komoju_webhooks_change_nothing(live_server, session):
    j, client, hosted = _to_hosted_page(live_server, session)
    payment = _payment(session, j)
    from smspay_app.settings import get_settings

    secret = get_settings().komoju_webhook_secret
    event = {
        "id": "f" * 25,
        "type": "payment.captured",
        "resource": "event",
        "data": {
            "id": "p" * 25,
            "resource": "payment",
            "status": "captured",
            "amount": payment.amount_yen,
            "currency": "JPY",
            "session": payment.provider_session_id,
            "payment_details": {"type": "credit_card"},
            "metadata": {"payment_id": str(payment.id)},
        },
        "created_at": komoju_sandbox._iso(),
        "reason": None,
    }
    body = json.dumps(event).encode()
    forged = client.post("/webhooks/komoju", content=body, headers={"X-Komoju-Signature": sign("guessed", body)})
    assert forged.status_code == 400
    stale_body = json.dumps({**event, "created_at": komoju_sandbox._iso(time.time() - 3_600)}).encode()
    stale = client.post(
        "/webhooks/komoju", content=stale_body, headers={"X-Komoju-Signature": sign(secret, stale_body)}
    )
    assert stale.status_code == 400
    stripe_route = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=1,v1=00"})
    assert stripe_route.status_code == 400
    assert reload(session, Payment, payment.id).status == "open"
    # the genuine one (as the sandbox would sign it) is applied once
    genuine = client.post("/webhooks/komoju", content=body, headers={"X-Komoju-Signature": sign(secret, body)})
    assert genuine.json()["result"] == "applied"
    again = client.post("/webhooks/komoju", content=body, headers={"X-Komoju-Signature": sign(secret, body)})
    assert again.json()["result"] == "duplicate"
    assert reload(session, Payment, payment.id).status == "succeeded"
    client.close()


def test_cancelling_on_komojus_page_lets_the_person_start_again(live_server, session):
    """KOMOJU sends the payer back to the one return URL (``?session_id=``)
    after a cancel too, with no event: the page asks KOMOJU, expires the
    checkout and offers to pay again (it used to wait for a webhook forever)."""
    j, client, hosted = _to_hosted_page(live_server, session)
    cancel = forms_of(hosted.text)[1]
    back = client.post(cancel["action"], data={"cancel": "1"})
    assert back.status_code == 303 and "session_id=" in back.headers["location"]
    page = client.get(back.headers["location"])
    payment = _payment(session, j)
    assert payment.status == "expired" and "payment_expired" in kinds(session, j.recipient_id)
    assert f"/l/{j.token}/pay" in page.text and "<meta http-equiv=refresh" not in page.text.lower()
    again = client.post(f"/l/{j.token}/pay", data={})
    assert again.status_code == 303 and "/sim/komoju/sessions/" in again.headers["location"]
    assert payment.provider_session_id not in again.headers["location"]  # a new session
    client.close()
