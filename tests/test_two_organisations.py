"""Acceptance (issue 13): two organisations send at the same time, each
through its own accounts. A: the Twilio-protocol simulator and a Stripe
connection (the Stripe-compatible sandbox, its own key); B: Karaden (the
Karaden simulator) and a second payment account, parametrised on B's payment
provider (``B_PAYMENT``: a second Stripe-protocol sandbox account, and KOMOJU
on the KOMOJU sandbox, as the issue's acceptance asks).
Each recipient's SMS reaches the right simulator once, each payment lands on
the right gateway and account (the connection id on ``Payment``, the
sandbox's own record of which key created it), the funnels complete, a
webhook signed for A posted to B's URL is refused and changes nothing; and
afterwards no credential appears in Reflex state, logs, exports or API
responses."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
import reflex as rx
from sqlmodel import select

from smspay_app.domain.answers import hash_answer, normalize_answer
from smspay_app.models import Campaign, CampaignQuestion, IdentityAnswer, Organisation, Payment, Recipient
from smspay_app.providers.payments import signature
from smspay_app.providers.payments.komoju import sign as komoju_sign
from smspay_app.services import campaigns, connections, exports, journey, sending
from smspay_app.web import recipient as recipient_web
from smspay_app.worker import run_dispatcher_once
from tests.factories import add_recipients, make_caller, make_key, make_org, signed_in
from tests.helpers import BROWSER_UA, add_karaden_connection, api_client, forms_of, wait_until
from tests.test_admin_handlers import app_module  # noqa: F401  (fixture: pages registered outside the event loop)

KEY_A = "sk_test_org_a_" + "A1" * 10
WHSEC_A = "whsec_org_a_" + "a9" * 12  # as Stripe's dashboard shows it; the admin pastes it
KEY_B = "sk_test_org_b_" + "B2" * 10
BIRTH = "1980-01-02"


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


# ------------------------------------------------------------ payment accounts


@dataclass
class PaymentAccount:
    """One payment provider's side of the test: ``add`` makes the
    organisation's connection and its account at the provider's sandbox
    (returns the connection id, its webhook secret and the credentials to look
    for afterwards); ``pay`` completes a checkout by card at the hosted page;
    ``owner`` says which key created an object there (last four)."""

    add: Callable[..., tuple[int, str, list[str]]]
    pay: Callable[[httpx.Client, str], None]
    owner: Callable[[object, str], str]


def _register_at_sandbox(live_server, key: str, webhook_secret: str, public_id: str) -> None:
    with live_server.client() as c:
        r = c.post(
            "/sim/stripe/_accounts",
            data={
                "secret_key": key,
                "webhook_secret": webhook_secret,
                "webhook_url": connections.payment_webhook_url(public_id),
            },
        )
        assert r.status_code == 200, r.text


def _sandbox_add(live_server, session, org: Organisation) -> tuple[int, str, list[str]]:
    admin = make_caller(session, org, "admin", email=f"pay-{org.id}@example.com")
    added = connections.add(
        session, admin, kind="payment", provider="sandbox", fields={"secret_key": KEY_B}, label="B決済"
    )
    session.commit()
    _register_at_sandbox(live_server, KEY_B, added.webhook_secret, added.public_id)
    return added.connection_id, added.webhook_secret, [KEY_B, added.webhook_secret]


def _sandbox_pay(client: httpx.Client, checkout_url: str) -> None:
    form = forms_of(client.get(checkout_url).text)[0]
    back = client.post(form["action"] or checkout_url, data={"method": "card", "outcome": "success"})
    assert back.status_code == 303, back.text


def _sandbox_owner(live_server, ident: str) -> str:
    with live_server.client() as c:
        return c.get(f"/sim/stripe/_accounts/of/{ident}").json()["key_last4"]


def _komoju_add(live_server, session, org: Organisation) -> tuple[int, str, list[str]]:
    """B's KOMOJU connection, on the KOMOJU sandbox mounted in this server, and
    the merchant account there with the connection's webhook URL and secret."""
    from smspay_app.settings import get_settings

    admin = make_caller(session, org, "admin", email=f"komoju-{org.id}@example.com")
    added = connections.add(
        session,
        admin,
        kind="payment",
        provider="komoju",
        fields={"secret_key": KEY_B, "api_base": get_settings().public_base_url + "/sim/komoju/api/v1"},
        label="B決済",
    )
    session.commit()
    with live_server.client() as c:
        r = c.post(
            "/sim/komoju/_merchants",
            json={
                "secret_key": KEY_B,
                "webhook_url": connections.payment_webhook_url(added.public_id),
                "webhook_secret": added.webhook_secret,
            },
        )
        assert r.status_code == 200, r.text
    return added.connection_id, added.webhook_secret, [KEY_B, added.webhook_secret]


def _komoju_pay(client: httpx.Client, checkout_url: str) -> None:
    form = forms_of(client.get(checkout_url).text)[0]
    back = client.post(form["action"] or checkout_url, data={"payment_type": "credit_card", "outcome": "success"})
    assert back.status_code == 303, back.text


def _komoju_owner(live_server, ident: str) -> str:
    """KOMOJU shows a session only to the merchant that created it: the key
    whose Basic auth reads it back is its owner."""
    with live_server.client() as c:
        for key in (KEY_A, KEY_B):
            if c.get(f"/sim/komoju/api/v1/sessions/{ident}", auth=(key, "")).status_code == 200:
                return key[-4:]
    return ""


B_PAYMENT = {
    "sandbox": PaymentAccount(_sandbox_add, _sandbox_pay, _sandbox_owner),
    "komoju": PaymentAccount(_komoju_add, _komoju_pay, _komoju_owner),
}


# ------------------------------------------------------------ helpers


def _campaign(session, org: Organisation, n: int, first_phone: int, amount: int) -> Campaign:
    campaign = Campaign(
        organisation_id=org.id,
        name=f"{org.name}の請求",
        sms_template="{{name}}様 ご請求のお知らせです {{link}}",
        payment_enabled=True,
        amount_yen=amount,
    )
    session.add(campaign)
    session.commit()
    question = CampaignQuestion(campaign_id=campaign.id, position=0, label="生年月日", column="birth", kind="date")
    session.add(question)
    session.commit()
    from smspay_app.settings import get_settings

    for r in add_recipients(session, campaign, n, first_phone=first_phone):
        r.amount_yen = amount
        session.add(r)
        session.add(
            IdentityAnswer(
                recipient_id=r.id,
                question_id=question.id,
                answer_hash=hash_answer(get_settings().secret_key, r.id, question.id, normalize_answer(BIRTH, "date")),
            )
        )
    session.commit()
    return campaign


async def _token_of(session, campaign: Campaign, recipient: Recipient) -> str:
    """The link the recipient received, read back from its organisation's
    own SMS provider (the simulators keep what they were asked to send)."""
    provider = connections.build_sms_provider(connections.sms_route(session, campaign=campaign))
    try:
        messages = await provider.list_messages(recipient.phone_e164, None, 10)
    finally:
        await provider.aclose()
    assert len(messages) == 1, (recipient.phone_e164, messages)
    match = re.search(r"/l/([A-Za-z0-9_-]+)", messages[0].body)
    assert match, messages[0].body
    return match.group(1)


def _pay(live_server, session, token: str, question_id: int, account: PaymentAccount) -> None:
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        verified = client.post(f"/l/{token}/verify", data={f"q_{question_id}": "1980/1/2"})
        assert verified.status_code == 303, verified.text
        to_gateway = client.post(f"/l/{token}/pay", data={})
        assert to_gateway.status_code == 303, to_gateway.text
        account.pay(client, to_gateway.headers["location"])


def _states_dump(session, org: Organisation) -> str:
    """The Reflex states the connection pages use, as the browser gets them."""
    from smspay_app.pages.campaigns import CampaignEditorState
    from smspay_app.pages.connections import ConnectionsState

    token, _ = signed_in(session, org, "admin", email=f"state-{org.id}@example.com")
    dumps = []
    for cls, load in ((ConnectionsState, "load"), (CampaignEditorState, "start")):
        root = rx.State(_reflex_internal_init=True)
        st = root.get_substate(cls.get_full_name().split("."))
        st._bind_session(token)
        getattr(cls, load).fn(st)
        dumps.append(json.dumps(root.dict(), default=str, ensure_ascii=False))
    return "\n".join(dumps)


# ------------------------------------------------------------ the test


@pytest.mark.parametrize("b_payment", sorted(B_PAYMENT))
async def test_two_organisations_send_and_get_paid_through_their_own_accounts(
    live_server,
    session,
    settings,
    caplog,
    b_payment,
    app_module,  # noqa: F811
):
    caplog.set_level(logging.DEBUG)
    account_b = B_PAYMENT[b_payment]
    org_a, org_b = make_org(session, "A商事"), make_org(session, "B電力")
    admin_a = make_caller(session, org_a, "admin", email="admin-a@example.com")
    # A: Twilio protocol (the simulator) + Stripe (the sandbox, A's own key and signing secret)
    connections.add(
        session,
        admin_a,
        kind="sms",
        provider="simulator",
        fields={"api_base": settings.public_base_url + "/sim/twilio"},
        label="Twilio",
    )
    pay_a = connections.add(
        session,
        admin_a,
        kind="payment",
        provider="stripe",
        fields={"secret_key": KEY_A, "webhook_secret": WHSEC_A, "api_base": settings.public_base_url + "/sim/stripe"},
        label="Stripe",
    )
    session.commit()
    _register_at_sandbox(live_server, KEY_A, WHSEC_A, pay_a.public_id)
    # B: Karaden + its own payment account
    add_karaden_connection(session, org_b, settings, settings.public_base_url + "/sim/karaden")
    pay_b_id, whsec_b, b_secrets = account_b.add(live_server, session, org_b)
    camp_a = _campaign(session, org_a, 2, first_phone=0, amount=1_200)
    camp_b = _campaign(session, org_b, 2, first_phone=500, amount=3_400)
    # Both send at the same time: one dispatcher run claims both campaigns.
    sending.start_sending(session, camp_a)
    sending.start_sending(session, camp_b)
    session.commit()
    await run_dispatcher_once()
    twilio = httpx.get(settings.public_base_url + "/sim/twilio/_stats", timeout=5).json()
    karaden = httpx.get(settings.public_base_url + "/sim/karaden/_stats", timeout=5).json()
    recipients = {
        c.id: session.exec(select(Recipient).where(Recipient.campaign_id == c.id).order_by(Recipient.id)).all()
        for c in (camp_a, camp_b)
    }
    assert twilio["messages"] == 2 and set(twilio["by_to"].values()) == {1}
    assert karaden["messages"] == 2 and set(karaden["by_to"].values()) == {1}
    assert {"+81" + p[1:] for p in karaden["by_to"]} == {r.phone_e164 for r in recipients[camp_b.id]}
    assert set(twilio["by_to"]) == {r.phone_e164 for r in recipients[camp_a.id]}

    # Each recipient pays through its organisation's account.
    for campaign, account in ((camp_a, B_PAYMENT["sandbox"]), (camp_b, account_b)):
        question = session.exec(select(CampaignQuestion).where(CampaignQuestion.campaign_id == campaign.id)).one()
        for r in recipients[campaign.id]:
            _pay(live_server, session, await _token_of(session, campaign, r), question.id, account)

    def all_paid() -> bool:
        session.expire_all()
        return all(r.status == "paid" for c in recipients.values() for r in (session.get(Recipient, x.id) for x in c))

    assert wait_until(all_paid, timeout=15), "the webhooks did not mark every recipient paid"
    payments = session.exec(select(Payment).order_by(Payment.id)).all()
    by_campaign = {c.id: [p for p in payments if p.campaign_id == c.id] for c in (camp_a, camp_b)}
    assert [p.payment_connection_id for p in by_campaign[camp_a.id]] == [pay_a.connection_id] * 2
    assert [p.payment_connection_id for p in by_campaign[camp_b.id]] == [pay_b_id] * 2
    assert {p.status for p in payments} == {"succeeded"} and len(payments) == 4
    assert {_sandbox_owner(live_server, p.provider_session_id) for p in by_campaign[camp_a.id]} == {KEY_A[-4:]}
    assert {account_b.owner(live_server, p.provider_session_id) for p in by_campaign[camp_b.id]} == {KEY_B[-4:]}
    for campaign, amount in ((camp_a, 1_200), (camp_b, 3_400)):
        counts = campaigns.funnel_counts(session, campaign.id)
        assert (counts["recipients"], counts["sent"], counts["verified"], counts["paid"]) == (2, 2, 2, 2)
        assert counts["paid_yen"] == 2 * amount

    # A webhook signed with A's secret, posted to B's URL: refused, nothing changes.
    public_b = session.get(connections.Connection, pay_b_id).public_id
    victim = by_campaign[camp_b.id][0]
    body = json.dumps(
        {
            "id": "evt_forged_cross_org",
            "object": "event",
            "type": "checkout.session.expired",
            "created": int(time.time()),
            "data": {"object": {"id": victim.provider_session_id, "object": "checkout.session", "status": "expired"}},
        }
    ).encode()
    with live_server.client() as c:
        refused = c.post(
            f"/webhooks/payments/{public_b}",
            content=body,
            headers={
                "Stripe-Signature": signature.sign_header(WHSEC_A, body),
                "X-Komoju-Signature": komoju_sign(WHSEC_A, body),
                "Content-Type": "application/json",
            },
        )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid signature"
    session.expire_all()
    assert session.get(Payment, victim.id).status == "succeeded"

    # No credential anywhere: Reflex state, logs, exports, API responses.
    credentials = [KEY_A, WHSEC_A, settings.karaden_sim_token, *b_secrets]
    pairs = [(org_a.id, camp_a.id), (org_b.id, camp_b.id)]
    seen: dict[str, str] = {
        "state A": _states_dump(session, org_a),
        "state B": _states_dump(session, org_b),
        "logs": caplog.text,
    }
    for org_id, campaign_id in pairs:
        seen[f"export {org_id}"] = "\n".join(
            ",".join(row) for row in exports.iter_rows(session, campaign_id, "Asia/Tokyo", "ja")
        )
        org = session.get(Organisation, org_id)
        key = make_key(session, make_caller(session, org, "admin", email=f"key-{org_id}@example.com"))
        with api_client(live_server, key) as api:
            for path in (
                "/api/v1/connections",
                "/api/v1/sms/capabilities",
                "/api/v1/campaigns",
                f"/api/v1/campaigns/{campaign_id}",
                f"/api/v1/campaigns/{campaign_id}/recipients",
            ):
                answer = api.get(path)
                assert answer.status_code == 200, (path, answer.text)
                seen[f"api {org_id} {path}"] = answer.text
    assert "Stripe" in seen["state A"] and "B決済" in seen["state B"]  # the states were really filled
    for secret in credentials:
        leaks = [where for where, text in seen.items() if secret in text]
        assert not leaks, f"a credential ending {secret[-4:]} appears in {leaks}"
