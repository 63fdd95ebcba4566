"""Vouchers on the recipient's own page (plain HTML): convenience store (each
store's confirmation number and payment code) and bank transfer (bank,
branch, account, amount), the deadline in the organisation's time zone, a
link to the gateway's voucher; an expired voucher marks the payment expired
and lets the person start again. Receipt times in the organisation's zone."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain.clock import frozen, utcnow
from smspay_app.domain.formatting import people_date, people_datetime
from smspay_app.models import Campaign, Payment, Recipient
from smspay_app.providers.payments import signature
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, forms_of, kinds, reload

SECRET = "whsec_sandbox_secret"


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _choose(live_server, session, method: str, outcome: str = "success", lang: str = "ja"):
    j = make_journey(session, recipient_language=lang)  # the pages follow the campaign's language
    client = live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": lang})
    q1, q2 = j.question_ids
    client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    to_gateway = client.post(f"/l/{j.token}/pay", data={})
    hosted = client.get(to_gateway.headers["location"])
    back = client.post(forms_of(hosted.text)[0]["action"], data={"method": method, "outcome": outcome})
    assert back.status_code == 303
    page = client.get(back.headers["location"])
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    return j, client, page, reload(session, Payment, payment.id)


def _intent(live_server, payment: Payment) -> dict:
    from smspay_app.services.connections import environment_gateway

    return environment_gateway().retrieve_payment_intent(payment.provider_payment_intent)


def test_konbini_voucher_on_the_recipients_page_then_paid(live_server, session):
    j, client, page, payment = _choose(live_server, session, "konbini")
    assert payment.status == "processing" and payment.method == "konbini"
    details = _intent(live_server, payment)["next_action"]["konbini_display_details"]
    assert payment.expires_at == datetime.utcfromtimestamp(details["expires_at"])
    text = page.text
    assert "コンビニでのお支払い" in text and "<script" not in text
    for store, label in (("familymart", "ファミリーマート"), ("lawson", "ローソン"), ("ministop", "ミニストップ")):
        assert label in text
        assert details["stores"][store]["confirmation_number"] in text
        assert details["stores"][store]["payment_code"] in text
    # the deadline in the organisation's zone (Asia/Tokyo): 23:59 there
    deadline = people_datetime(payment.expires_at, "ja", "Asia/Tokyo")
    assert f"お支払い期限: {deadline}" in text and deadline.endswith("23:59")
    assert details["hosted_voucher_url"] in text and "¥12,340" in text

    pending = client.get("/sim/stripe/pending")
    mark = form_to(pending.text, payment.provider_session_id)
    client.post(mark["action"], data={"result": "paid"})
    assert reload(session, Payment, payment.id).status == "succeeded"
    assert "お支払いありがとうございました" in client.get(f"/l/{j.token}").text
    client.close()


def test_bank_transfer_instructions_on_the_page_then_paid(live_server, session):
    j, client, page, payment = _choose(live_server, session, "bank", "pending", lang="en")
    assert payment.status == "processing" and payment.method == "bank"
    assert payment.expires_at is None  # a bank transfer's instructions carry no deadline
    zengin = _intent(live_server, payment)["next_action"]["display_bank_transfer_instructions"]
    account = zengin["financial_addresses"][0]["zengin"]
    text = page.text
    assert "Pay by bank transfer" in text
    for value in (account["bank_name"], account["branch_name"], account["account_number"], "¥12,340"):
        assert value in text
    assert "Ordinary" in text and "Show the voucher" in text
    # no deadline from the gateway: the invoice's due date, as the voucher's own line
    # (the campaign's: this recipient has none of their own)
    recipient = reload(session, Recipient, j.recipient_id)
    assert recipient.due_date is None
    due = session.get(Campaign, recipient.campaign_id).due_date
    assert f"<p class=deadline>Pay by: {people_date(due, 'en')}</p>" in text
    mark = form_to(client.get("/sim/stripe/pending").text, payment.provider_session_id)
    client.post(mark["action"], data={"result": "paid"})
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    client.close()


def test_expired_konbini_voucher_lets_the_person_start_again(live_server, session):
    j, client, page, payment = _choose(live_server, session, "konbini")
    mark = form_to(client.get("/sim/stripe/pending").text, payment.provider_session_id)
    client.post(mark["action"], data={"result": "failed"})  # the sandbox's "deadline passed"
    assert reload(session, Payment, payment.id).status == "expired"
    assert "payment_expired" in kinds(session, j.recipient_id)
    again = client.get(f"/l/{j.token}")
    assert "お支払い期限が過ぎました" in again.text
    retry = form_to(again.text, "/pay")
    assert client.post(retry["action"], data=retry["fields"]).status_code == 303
    session.expire_all()
    assert sorted(p.status for p in session.exec(select(Payment))) == ["expired", "open"]
    client.close()


def test_a_voucher_past_its_deadline_counts_as_expired_without_the_gateways_word(live_server, session):
    j, client, page, payment = _choose(live_server, session, "konbini")
    payment.expires_at = utcnow() - timedelta(seconds=1)  # the deadline passed; no webhook came
    session.add(payment)
    session.commit()
    again = client.get(f"/l/{j.token}")
    assert "コンビニでのお支払い" not in again.text and form_to(again.text, "/pay")
    retry = client.post(f"/l/{j.token}/pay", data={})
    assert retry.status_code == 303 and "/sim/stripe/pay/" in retry.headers["location"]
    assert reload(session, Payment, payment.id).status == "expired"
    client.close()


def _signed_paid_event(payment: Payment) -> bytes:
    return json.dumps(
        {
            "id": "evt_midnight",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": payment.provider_session_id,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "amount_total": payment.amount_yen,
                    "currency": "jpy",
                    "metadata": {"payment_id": str(payment.id)},
                    "payment_method_types": ["card"],
                }
            },
        }
    ).encode()


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "お支払い完了: ¥12,340（2026年12月2日 03:57）"), ("en", "Paid: ¥12,340 (2 Dec 2026 03:57)")],
)
def test_receipt_time_in_the_organisations_zone_across_midnight_utc(live_server, session, lang, expected):
    with frozen(datetime(2026, 12, 1, 18, 57)):  # 03:57 on 2 December in Tokyo
        j = make_journey(session, recipient_language=lang)
        client = live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": lang})
        q1, q2 = j.question_ids
        client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
        client.post(f"/l/{j.token}/pay", data={})
        payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
        body = _signed_paid_event(payment)
        with live_server.client() as hook:
            r = hook.post(
                "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature.sign_header(SECRET, body)}
            )
        assert r.json()["result"] == "applied"
        assert reload(session, Payment, payment.id).paid_at == utcnow()
        page = client.get(f"/l/{j.token}")
        assert expected in page.text
        due = "2030年4月30日" if lang == "ja" else "30 Apr 2030"
        assert due in page.text
        client.close()


def test_people_dates_in_both_languages():
    at = datetime(2026, 12, 9, 15, 30)  # 00:30 on 10 December in Tokyo
    assert people_date(at, "ja", "Asia/Tokyo") == "2026年12月10日"
    assert people_date(at, "en", "Asia/Tokyo") == "10 Dec 2026"
    assert people_date(at, "en", "UTC") == "9 Dec 2026"
    assert people_datetime(at, "ja", "Asia/Tokyo") == "2026年12月10日 00:30"
    assert people_date(None, "ja") == ""


def _sms_to(live_server, settings, to: str) -> list[str]:
    path = f"/sim/twilio/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
    with live_server.client(auth=(settings.twilio_account_sid, settings.twilio_auth_token)) as client:
        return [m["body"] for m in client.get(path, params={"To": to}).json()["messages"]]


def test_the_voucher_by_sms_on_request(live_server, session, settings):
    j, client, page, payment = _choose(live_server, session, "konbini")
    sms = form_to(page.text, "/voucher-sms")
    sent = client.post(sms["action"], data=sms["fields"], follow_redirects=True)  # PRG (issue 14)
    assert "お支払い方法をSMSでお送りしました" in sent.text
    phone = session.get(Recipient, j.recipient_id).phone_e164
    (text,) = _sms_to(live_server, settings, phone)
    details = _intent(live_server, payment)["next_action"]["konbini_display_details"]
    assert text.startswith("【テスト電力】コンビニ払い ¥12,340")
    assert f"お支払い期限: {people_datetime(payment.expires_at, 'ja', 'Asia/Tokyo')}" in text
    assert details["stores"]["lawson"]["confirmation_number"] in text and details["hosted_voucher_url"] in text
    for _ in range(2):
        client.post(sms["action"], data=sms["fields"])
    capped = client.post(sms["action"], data=sms["fields"], follow_redirects=True)
    assert "上限" in capped.text
    assert len(_sms_to(live_server, settings, phone)) == 3
    assert kinds(session, j.recipient_id).count("voucher_sms_sent") == 3
    client.close()


def test_the_bank_transfer_voucher_by_sms_says_the_due_date(live_server, session, settings):
    j, client, page, payment = _choose(live_server, session, "bank", "pending")
    sms = form_to(page.text, "/voucher-sms")
    client.post(sms["action"], data=sms["fields"], follow_redirects=True)
    recipient = session.get(Recipient, j.recipient_id)
    (text,) = _sms_to(live_server, settings, recipient.phone_e164)
    assert text.startswith("【テスト電力】") and "三井住友銀行" in text
    assert f"お支払い期限: {people_date(session.get(Campaign, recipient.campaign_id).due_date, 'ja')}" in text
    client.close()
