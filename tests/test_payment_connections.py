"""Payment connections in use (issue 13 items 1 and 2): a checkout goes
through the campaign's pick, else the organisation's default payment
connection, else the environment's account; the Payment row remembers it; its
webhooks arrive at that connection's own URL, verified with that connection's
secret; refunds and expiries use the same account. An event signed for one
connection and posted to another's URL changes nothing."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlmodel import select

from smspay_app.models import Campaign, Connection, Organisation, Payment, Recipient
from smspay_app.providers.payments import signature
from smspay_app.services import actions, connections, journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_caller, make_campaign, make_journey, make_org
from tests.helpers import BROWSER_UA, forms_of, reload, wait_until

KEY_B = "sk_test_org_b_" + "b" * 16


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _own_sandbox_account(live_server, session, org_id: int, key: str, label: str = "") -> connections.Added:
    """An organisation's own account at the mounted sandbox: a sandbox
    connection with its own key, the sandbox told where that account's events
    go (the connection's URL) and how they are signed (its secret, shown once)."""
    org = session.get(Organisation, org_id)
    admin = make_caller(session, org, "admin", email=f"pay-admin-{org_id}-{key[-4:]}@example.com")
    added = connections.add(session, admin, kind="payment", provider="sandbox", fields={"secret_key": key}, label=label)
    session.commit()
    with live_server.client() as c:
        r = c.post(
            "/sim/stripe/_accounts",
            data={
                "secret_key": key,
                "webhook_secret": added.webhook_secret,
                "webhook_url": connections.payment_webhook_url(added.public_id),
            },
        )
        assert r.status_code == 200, r.text
    return added


def _pay_by_card(live_server, j) -> httpx.Client:
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    assert client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}).status_code == 303
    to_gateway = client.post(f"/l/{j.token}/pay", data={})
    assert to_gateway.status_code == 303, to_gateway.text
    checkout_url = to_gateway.headers["location"]
    form = forms_of(client.get(checkout_url).text)[0]
    back = client.post(form["action"] or checkout_url, data={"method": "card", "outcome": "success"})
    assert back.status_code == 303
    return client


def _payment_of(session, recipient_id: int) -> Payment:
    session.expire_all()
    return session.exec(select(Payment).where(Payment.recipient_id == recipient_id)).one()


def _owner(live_server, ident: str) -> str:
    with live_server.client() as c:
        return c.get(f"/sim/stripe/_accounts/of/{ident}").json()["key_last4"]


def _signed_event(payment: Payment, event_id: str, secret: str) -> tuple[bytes, str]:
    body = json.dumps(
        {
            "id": event_id,
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
    return body, signature.sign_header(secret, body)


def test_the_route_is_the_campaigns_pick_then_the_default_then_the_environment(session, settings):
    org, other = make_org(session), make_org(session, "他社")
    admin = make_caller(session, org, "admin")
    campaign = make_campaign(session, org, recipients=1)
    fallback = connections.payment_route(session, campaign)
    assert fallback.connection_id is None and fallback.secret_key == settings.stripe_secret_key
    default = connections.add(session, admin, kind="payment", provider="sandbox", fields={"secret_key": KEY_B})
    picked = connections.add(
        session, admin, kind="payment", provider="stripe", fields={"secret_key": "sk_test_" + "s" * 20}
    )
    foreign = connections.add(
        session, make_caller(session, other, "admin"), kind="payment", provider="sandbox", fields={}
    )
    assert connections.payment_route(session, campaign).connection_id == default.connection_id
    campaign.payment_connection_id = picked.connection_id
    spec = connections.payment_route(session, campaign)
    assert (spec.connection_id, spec.provider, spec.api_base) == (picked.connection_id, "stripe", "")
    assert "sk_test_" not in repr(spec)  # secrets never in a repr (logs)
    connections.disable(session, admin, picked.connection_id)
    assert connections.payment_route(session, campaign).connection_id == default.connection_id
    campaign.payment_connection_id = foreign.connection_id  # another organisation's: never used
    assert connections.payment_route(session, campaign).connection_id == default.connection_id
    # one adapter per account, kept
    assert connections.build_payment_gateway(spec) is connections.build_payment_gateway(spec)
    with pytest.raises(connections.GatewayError):
        connections.build_payment_gateway(connections.PaymentSpec(connection_id=9, provider="unknown", api_base=""))


def test_a_payment_goes_through_the_organisations_own_account_and_its_own_webhook(live_server, session, settings):
    j = make_journey(session)
    added = _own_sandbox_account(live_server, session, j.organisation_id, KEY_B)
    client = _pay_by_card(live_server, j)
    payment = _payment_of(session, j.recipient_id)
    assert payment.payment_connection_id == added.connection_id
    assert _owner(live_server, payment.provider_session_id) == KEY_B[-4:]  # the sandbox's own record
    paid = wait_until(lambda: reload(session, Recipient, j.recipient_id).status == "paid")
    assert paid, "the connection's webhook did not mark the payment paid"
    assert reload(session, Payment, payment.id).status == "succeeded"
    # the sandbox posted to the connection's own URL, signed with its secret
    with live_server.client() as c:
        deliveries = c.get("/sim/stripe/_deliveries").json()["deliveries"]
    completed = [d for d in deliveries if d["type"] == "checkout.session.completed"]
    assert completed and all(d["status"] == 200 for d in completed)
    signature.verify_header(added.webhook_secret, completed[0]["body"].encode(), completed[0]["signature"])
    # a support refund goes to the same account
    support = make_caller(session, session.get(Organisation, j.organisation_id), "admin")
    actions.refund_payment(session, support, j.recipient_id, 1_000, "お客様のご依頼")
    session.commit()
    refunded = reload(session, Payment, payment.id)
    assert refunded.refunded_yen == 1_000
    assert _owner(live_server, refunded.provider_payment_intent) == KEY_B[-4:]
    client.close()


def test_an_event_signed_for_another_connection_is_refused_and_changes_nothing(live_server, session, settings):
    a = make_journey(session, phone="+819011110000")
    b = make_journey(session, phone="+819022220000")
    conn_a = _own_sandbox_account(live_server, session, a.organisation_id, "sk_test_org_a_" + "a" * 16)
    conn_b = _own_sandbox_account(live_server, session, b.organisation_id, KEY_B)
    # B's recipient opens a checkout (not paid yet)
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = b.question_ids
    client.post(f"/l/{b.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    assert client.post(f"/l/{b.token}/pay", data={}).status_code == 303
    payment_b = _payment_of(session, b.recipient_id)
    assert payment_b.payment_connection_id == conn_b.connection_id
    url_b = f"/webhooks/payments/{conn_b.public_id}"
    url_a = f"/webhooks/payments/{conn_a.public_id}"
    with live_server.client() as c:
        # signed with A's secret, posted to B's URL: refused
        body, header = _signed_event(payment_b, "evt_cross_1", conn_a.webhook_secret)
        r = c.post(url_b, content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid signature"
        assert "own connection" in r.json()["detail"]
        # signed with A's secret, posted to A's URL: verified, but B's payment is not A's
        r = c.post(url_a, content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["result"] == "unknown_payment"
        # the environment's route with the environment's secret: not its payment either
        body, header = _signed_event(payment_b, "evt_cross_2", settings.stripe_webhook_secret)
        r = c.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
        )
        assert r.status_code == 200 and r.json()["result"] == "unknown_payment"
        assert c.post("/webhooks/payments/cn_nope", content=body).status_code == 404
    assert reload(session, Payment, payment_b.id).status == "open"
    assert reload(session, Recipient, b.recipient_id).paid_at is None
    # B's own secret on B's URL applies it
    with live_server.client() as c:
        body, header = _signed_event(payment_b, "evt_b_ok", conn_b.webhook_secret)
        r = c.post(url_b, content=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["result"] == "applied"
    assert reload(session, Recipient, b.recipient_id).status == "paid"
    client.close()


def test_a_sandbox_connection_without_keys_shares_the_environments_account(live_server, session, settings):
    """A zero-configuration sandbox connection is the sandbox mounted here,
    whose events come to the environment's route: they still apply."""
    j = make_journey(session)
    org = session.get(Organisation, j.organisation_id)
    added = connections.add(session, make_caller(session, org, "admin"), kind="payment", provider="sandbox", fields={})
    session.commit()
    _pay_by_card(live_server, j)
    payment = _payment_of(session, j.recipient_id)
    assert payment.payment_connection_id == added.connection_id
    assert wait_until(lambda: reload(session, Recipient, j.recipient_id).status == "paid")


def test_an_existing_payment_keeps_its_account_after_the_default_changes(live_server, session, settings):
    j = make_journey(session)
    first = _own_sandbox_account(live_server, session, j.organisation_id, KEY_B, label="first")
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    assert client.post(f"/l/{j.token}/pay", data={}).status_code == 303
    assert _payment_of(session, j.recipient_id).payment_connection_id == first.connection_id
    second = _own_sandbox_account(live_server, session, j.organisation_id, "sk_test_second_" + "c" * 16, label="second")
    org = session.get(Organisation, j.organisation_id)
    connections.set_default(session, make_caller(session, org, "admin"), second.connection_id)
    campaign = session.get(Campaign, j.campaign_id)
    campaign.amount_yen = 9_999  # a new amount: a new checkout, the old one expired at ITS account
    recipient = session.get(Recipient, j.recipient_id)
    recipient.amount_yen = 9_999
    session.add_all([campaign, recipient])
    session.commit()
    assert client.post(f"/l/{j.token}/pay", data={}).status_code == 303
    session.expire_all()
    rows = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id).order_by(Payment.id)).all()
    assert [p.payment_connection_id for p in rows] == [first.connection_id, second.connection_id]
    assert rows[0].status == "expired"
    assert _owner(live_server, rows[0].provider_session_id) == KEY_B[-4:]
    assert _owner(live_server, rows[1].provider_session_id) == "cccc"
    assert session.get(Connection, first.connection_id).is_default is False
    client.close()


def test_the_pay_form_may_end_up_at_the_campaigns_own_gateway(live_server, session, settings):
    """The recipient page's CSP form-action lets the pay form's 303 reach the
    campaign's account's hosted page (a Stripe connection: Stripe's checkout)."""
    j = make_journey(session)
    client = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    before = client.get(f"/l/{j.token}").headers["content-security-policy"]
    assert "checkout.stripe.com" not in before and settings.public_base_url in before
    org = session.get(Organisation, j.organisation_id)
    connections.add(
        session,
        make_caller(session, org, "admin"),
        kind="payment",
        provider="stripe",
        fields={"secret_key": "sk_live_" + "x" * 20},
    )
    session.commit()
    after = client.get(f"/l/{j.token}").headers["content-security-policy"]
    assert "form-action 'self' https://checkout.stripe.com;" in after
    client.close()


# A connection an admin adds that points at this server's own mounted sandbox
# gets a merchant account there (its key, its webhook URL and secret), with
# no dashboard step: nothing posted to /sim/komoju/_merchants or /_accounts.
KEY_K = "sk_test_komoju_own_" + "k" * 12


async def test_a_komoju_connection_to_the_mounted_sandbox_gets_its_own_merchant_account(live_server, session, settings):
    from smspay_app.providers.payments import komoju_sandbox
    from smspay_app.providers.payments.komoju_sandbox import sign as komoju_sign
    from tests.test_komoju_adapter import _direct

    org = make_org(session, "K商店")
    admin = make_caller(session, org, "admin", email="komoju-own@example.com")
    mounted = connections.mounted_sandbox_base("komoju")
    assert mounted == settings.public_base_url.rstrip("/") + "/sim/komoju/api/v1"
    added = connections.add(
        session, admin, kind="payment", provider="komoju", fields={"secret_key": KEY_K, "api_base": mounted}
    )
    session.commit()
    assert await connections.test(session, admin, added.connection_id) == "ok"  # the sandbox knows the key
    session.commit()
    gateway = connections.build_payment_gateway(
        connections.payment_spec_of(session.get(Connection, added.connection_id))
    )
    direct = gateway.create_direct_payment(_direct("konbini"))
    url = connections.payment_webhook_url(added.public_id)

    def delivered() -> list[dict]:
        with live_server.client() as c:
            return [d for d in c.get("/sim/komoju/_deliveries").json()["deliveries"] if direct.id in d["body"]]

    assert wait_until(lambda: delivered(), timeout=10)
    (record,) = delivered()
    assert record["url"] == url  # the connection's own URL, signed with its own secret
    assert record["signature"] == komoju_sign(added.webhook_secret, record["body"].encode())
    # a KOMOJU connection to another API base (a real account): never registered
    connections.add(
        session,
        admin,
        kind="payment",
        provider="komoju",
        fields={"secret_key": "sk_live_real_account_0001", "api_base": "https://komoju.example/api/v1"},
    )
    session.commit()
    assert "sk_live_real_account_0001" not in komoju_sandbox.mounted_merchants()
    assert KEY_K in komoju_sandbox.mounted_merchants()


async def test_a_sandbox_connection_with_its_own_key_gets_its_own_account_at_the_mounted_sandbox(
    live_server, session, settings
):
    key = "sk_test_sandbox_own_" + "s" * 12
    org = make_org(session, "S商店")
    admin = make_caller(session, org, "admin", email="sandbox-own@example.com")
    added = connections.add(session, admin, kind="payment", provider="sandbox", fields={"secret_key": key})
    session.commit()
    assert await connections.test(session, admin, added.connection_id) == "ok"
    with live_server.client() as c:
        assert (
            c.get("/sim/stripe/v1/checkout/sessions/cs_x", headers={"Authorization": f"Bearer {key}"}).status_code
            == 404
        )


def test_no_sandbox_is_offered_or_registered_when_none_is_mounted(settings):
    real = settings.model_copy(
        update={"payment_provider": "stripe", "komoju_api_base": "https://komoju.example/api/v1"}
    )
    assert connections.mounted_sandbox_base("komoju", real) == ""
    assert connections.mounted_sandbox_base("stripe", real) == ""
    spec = connections.PaymentSpec(
        connection_id=1, provider="komoju", api_base="https://komoju.example/api/v1", secret_key="sk_live_x" * 2
    )
    assert connections.register_with_mounted_sandbox(spec, real) is False
