"""Never charged twice: at most one live checkout per recipient (pressing pay
again, or on another device, hands out the same one; a changed amount
expires the old one through the gateway), and a second success (two devices
racing) is refunded automatically through the gateway's refund API, shown on
the timeline, in the audit log and on the recipient's page; the funnel and
the collected amount count the money once. Support refunds go through the
same gateway (``actions.refund_payment``)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from sqlmodel import select

from smspay_app.models import AuditLog, Organisation, Payment, Recipient, WebhookDelivery
from smspay_app.services import actions, journey, payments, stats
from smspay_app.services.connections import environment_gateway
from smspay_app.web import recipient as recipient_web
from tests.factories import make_admin, make_caller, make_journey
from tests.helpers import BROWSER_UA, forms_of, kinds, reload


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _device(live_server, j) -> httpx.Client:
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    assert client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}).status_code == 303
    return client


def _sandbox_session(live_server, session_id: str) -> dict:
    gw = environment_gateway()
    return gw.retrieve_checkout(session_id)


def _pay_card(client: httpx.Client, checkout_url: str) -> httpx.Response:
    hosted = client.get(checkout_url)
    form = forms_of(hosted.text)[0]
    return client.post(form["action"], data={"method": "card", "outcome": "success"})


def test_pressing_pay_twice_or_on_two_devices_opens_one_checkout(live_server, session):
    j = make_journey(session)
    phone = _device(live_server, j)
    first = phone.post(f"/l/{j.token}/pay", data={})
    again = phone.post(f"/l/{j.token}/pay", data={})
    tablet = _device(live_server, j)  # verifying here ends the phone's session (one per link)
    other = tablet.post(f"/l/{j.token}/pay", data={})
    assert first.status_code == again.status_code == other.status_code == 303
    assert first.headers["location"] == again.headers["location"] == other.headers["location"]
    (payment,) = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).all()
    assert payment.expires_at is not None
    assert kinds(session, j.recipient_id).count("checkout_started") == 1
    assert _pay_card(phone, first.headers["location"]).status_code == 303
    assert reload(session, Payment, payment.id).status == "succeeded"
    # the other device's copy of the page is closed at the gateway
    assert "終了しています" in tablet.get(other.headers["location"]).text  # Japanese by default (item 11)
    phone.close()
    tablet.close()


def test_a_changed_amount_expires_the_old_checkout_through_the_gateway(live_server, session):
    j = make_journey(session)
    client = _device(live_server, j)
    old = client.post(f"/l/{j.token}/pay", data={})
    recipient = session.get(Recipient, j.recipient_id)
    recipient.amount_yen = 9_800
    session.add(recipient)
    session.commit()
    new = client.post(f"/l/{j.token}/pay", data={})
    assert new.headers["location"] != old.headers["location"]
    session.expire_all()
    first, second = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id).order_by(Payment.id))
    assert (first.status, second.status) == ("expired", "open")
    assert _sandbox_session(live_server, first.provider_session_id)["status"] == "expired"
    assert _sandbox_session(live_server, second.provider_session_id)["status"] == "open"
    assert second.amount_yen == 9_800
    client.close()


def _second_live_checkout(session, j) -> Payment:
    """A second live checkout for the recipient, as a race between two
    devices (or a checkout made before the one-checkout rule) leaves it."""
    ctx = journey.load_context(session, j.token)
    assert ctx is not None
    gw = environment_gateway()
    p = Payment(
        organisation_id=ctx.recipient.organisation_id,
        campaign_id=ctx.campaign.id,
        recipient_id=ctx.recipient.id,
        amount_yen=ctx.recipient.amount_yen,
        provider=gw.name,
        provider_session_id="pending-race",
        status="open",
    )
    session.add(p)
    session.commit()
    payments.start_checkout(session, ctx, j.token, gw, p)
    session.commit()
    return p


def test_two_sessions_paid_concurrently_the_second_is_refunded(live_server, session):
    j = make_journey(session)
    phone = _device(live_server, j)
    phone_url = phone.post(f"/l/{j.token}/pay", data={}).headers["location"]
    tablet = _device(live_server, j)
    raced = _second_live_checkout(session, j)
    assert raced.checkout_url != phone_url

    results: list[int] = []

    def pay(client: httpx.Client, url: str) -> None:
        results.append(_pay_card(client, url).status_code)

    threads = [threading.Thread(target=pay, args=(c, u)) for c, u in ((phone, phone_url), (tablet, raced.checkout_url))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [303, 303]

    session.expire_all()
    rows = list(session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)))
    assert sorted(p.status for p in rows) == ["refunded", "succeeded"]
    refunded = next(p for p in rows if p.status == "refunded")
    assert refunded.refunded_yen == refunded.amount_yen
    # the refund went through the gateway's refund API
    pi = environment_gateway().retrieve_payment_intent(refunded.provider_payment_intent)
    assert pi["latest_charge"]["amount_refunded"] == refunded.amount_yen
    # the operator sees it: timeline and audit
    events = kinds(session, j.recipient_id)
    assert events.count("paid") == 1 and events.count("payment_refunded") == 1
    audit = session.exec(select(AuditLog).where(AuditLog.action == "payment.duplicate_refund")).one()
    assert json.loads(audit.detail)["payment_id"] == refunded.id
    # the money counts once
    recipient = reload(session, Recipient, j.recipient_id)
    assert recipient.status == "paid"
    counters = stats.counts_for(session, [j.campaign_id])[j.campaign_id]
    assert counters["paid"] == 1 and counters["paid_yen"] == recipient.amount_yen
    assert stats.counts_sql(session, j.campaign_id)["paid_yen"] == recipient.amount_yen
    # and the recipient's page says so
    page = tablet.get(f"/l/{j.token}")
    assert "自動で返金しました" in page.text and "¥12,340" in page.text
    phone.close()
    tablet.close()


def test_support_refund_full_or_partial_through_the_gateway(live_server, session):
    j = make_journey(session)
    client = _device(live_server, j)
    _pay_card(client, client.post(f"/l/{j.token}/pay", data={}).headers["location"])
    org = session.get(Organisation, j.organisation_id)
    caller = make_caller(session, org)
    with pytest.raises(actions.ActionRefused) as no_reason:
        actions.refund_payment(session, caller, j.recipient_id, 1_000, "")
    assert no_reason.value.key == "ops.error.reason_required"
    with pytest.raises(actions.ActionRefused) as too_much:
        actions.refund_payment(session, caller, j.recipient_id, 12_341, "お客様のご依頼")
    assert too_much.value.key == "ops.error.refund_amount"

    actions.refund_payment(session, caller, j.recipient_id, 2_340, "従量料金の誤り")
    session.commit()
    actions.refund_payment(session, caller, j.recipient_id, 10_000, "契約解除")
    session.commit()
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    assert payment.refunded_yen == 12_340 and payment.status == "succeeded"
    pi = environment_gateway().retrieve_payment_intent(payment.provider_payment_intent)
    assert pi["latest_charge"]["amount_refunded"] == 12_340 and pi["latest_charge"]["refunded"] is True
    with pytest.raises(actions.ActionRefused):
        actions.refund_payment(session, caller, j.recipient_id, 1, "もう一度")

    audits = session.exec(select(AuditLog).where(AuditLog.action == "support.refund")).all()
    assert [(a.reason, json.loads(a.detail)["amount_yen"]) for a in audits] == [
        ("従量料金の誤り", 2_340),
        ("契約解除", 10_000),
    ]
    events = kinds(session, j.recipient_id)
    assert events.count("staff_refund") == 2
    assert reload(session, Recipient, j.recipient_id).status == "paid"  # the funnel keeps "paid"
    assert "¥12,340を返金しました" in client.get(f"/l/{j.token}").text
    client.close()


def test_refunds_announce_payment_refunded_to_subscribed_endpoints(live_server, session):
    from smspay_app.services import webhooks

    j = make_journey(session)
    org = session.get(Organisation, j.organisation_id)
    admin = make_admin(session, org)
    webhooks.create_endpoint(session, admin, "https://hooks.example.test/smspay", ["payment.refunded"])
    session.commit()
    client = _device(live_server, j)
    _pay_card(client, client.post(f"/l/{j.token}/pay", data={}).headers["location"])
    actions.refund_payment(session, make_caller(session, org), j.recipient_id, 500, "一部返金")
    session.commit()
    session.expire_all()
    assert [d.event_type for d in session.exec(select(WebhookDelivery))] == ["payment.refunded"]
    client.close()


def test_the_support_page_refunds_all_that_is_left_by_default(live_server, session):
    from smspay_app.services import support

    j = make_journey(session)
    client = _device(live_server, j)
    _pay_card(client, client.post(f"/l/{j.token}/pay", data={}).headers["location"])
    caller = make_caller(session, session.get(Organisation, j.organisation_id))
    assert "refund" in support.ACTIONS
    support.run_action(session, caller, "refund", j.recipient_id, "一部返金", amount_yen=340)
    support.run_action(session, caller, "refund", j.recipient_id, "残額を返金")  # no amount: the rest
    session.commit()
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    assert payment.refunded_yen == payment.amount_yen == 12_340
    client.close()
