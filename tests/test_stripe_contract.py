"""Contract tests: the official ``stripe`` package (16.1) is the oracle for the
payment sandbox. Each test drives the API over real HTTP with
``stripe.StripeClient`` (create with JPY line items, card + konbini + bank
transfer, metadata; retrieve; list; expire; errors; idempotency) and verifies
every webhook the sandbox sends with ``stripe.Webhook.construct_event``.

The same module runs against Stripe test mode when ``STRIPE_TEST_SECRET_KEY``
(``sk_test_...``) is set in the environment: the ``[stripe-test]`` cases are
skipped with that reason otherwise. Webhook checks need a reachable endpoint
and run against the sandbox only."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
import uvicorn

from smspay_app.providers.payments import sandbox
from smspay_app.providers.payments.stripe import API_VERSION
from tests.helpers import free_port, wait_until

SANDBOX_KEY = "sk_test_contract"
SANDBOX_WHSEC = "whsec_contract"
LIVE_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")


@dataclass
class Receiver:
    """A webhook endpoint that keeps every raw body and signature header."""

    url: str
    received: list[tuple[bytes, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.received.append((body, self.headers.get("Stripe-Signature", "")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()


@pytest.fixture(scope="module")
def sandbox_base(receiver: Receiver) -> Iterator[str]:
    port = free_port()
    app = sandbox.create_app(sandbox.SandboxConfig(SANDBOX_KEY, SANDBOX_WHSEC, receiver.url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True


@dataclass
class Target:
    name: str
    client: stripe.StripeClient
    base: str | None  # the sandbox's base URL; None for Stripe itself


@pytest.fixture(params=["sandbox", "stripe-test"])
def target(request: pytest.FixtureRequest, sandbox_base: str) -> Target:
    if request.param == "stripe-test":
        if not LIVE_KEY.startswith("sk_test_"):
            pytest.skip("STRIPE_TEST_SECRET_KEY (sk_test_...) not set: contract not checked against Stripe test mode")
        return Target("stripe-test", stripe.StripeClient(LIVE_KEY, stripe_version=API_VERSION), None)
    client = stripe.StripeClient(
        SANDBOX_KEY, base_addresses={"api": sandbox_base}, max_network_retries=0, stripe_version=API_VERSION
    )
    return Target("sandbox", client, sandbox_base)


def sandbox_only(target: Target) -> str:
    if target.base is None:
        pytest.skip("needs the sandbox's hosted page / webhook receiver")
    return target.base


def _line(name: str, unit: int, qty: int = 1) -> dict[str, Any]:
    return {"price_data": {"currency": "jpy", "unit_amount": unit, "product_data": {"name": name}}, "quantity": qty}


def _customer(t: Target) -> str:
    return t.client.v1.customers.create({"name": "山田太郎", "metadata": {"recipient_id": "7"}}).id


def _params(t: Target, **over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [_line("基本料金", 10_000), _line("従量料金", 1_170, 2)],
        "payment_method_types": ["card", "konbini", "customer_balance"],
        "payment_method_options": {
            "customer_balance": {"funding_type": "bank_transfer", "bank_transfer": {"type": "jp_bank_transfer"}},
            "konbini": {"expires_after_days": 3},
        },
        "customer": _customer(t),
        "success_url": "https://example.test/l/tok/done",
        "cancel_url": "https://example.test/l/tok/cancelled",
        "client_reference_id": "r7",
        "metadata": {"payment_id": "42"},
    }
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def _events(receiver: Receiver) -> list[stripe.Event]:
    """Every webhook received so far, each verified by the official SDK."""
    return [stripe.Webhook.construct_event(body, header, SANDBOX_WHSEC) for body, header in receiver.received]


# ------------------------------------------------------------------ create / retrieve / list / expire


def test_create_has_stripe_fields_and_totals_all_lines(target: Target) -> None:
    s = target.client.v1.checkout.sessions.create(_params(target))
    assert s.object == "checkout.session" and s.id.startswith("cs_test_")
    assert s.mode == "payment" and s.status == "open" and s.payment_status == "unpaid"
    assert s.currency == "jpy"
    assert s.amount_subtotal == s.amount_total == 10_000 + 2 * 1_170  # every line, not only the first
    assert sorted(s.payment_method_types) == ["card", "customer_balance", "konbini"]
    assert s.payment_method_options["customer_balance"]["funding_type"] == "bank_transfer"
    assert s.payment_method_options["customer_balance"]["bank_transfer"]["type"] == "jp_bank_transfer"
    assert s.metadata.to_dict() == {"payment_id": "42"} and s.client_reference_id == "r7"
    assert s.customer and s.customer.startswith("cus_")
    assert s.customer_details is None  # filled in when the customer completes
    assert s.payment_intent is None  # Stripe sets it when the session is confirmed, not at creation
    assert s.url and s.expires_at > s.created
    assert s.last_response.headers.get("request-id", "").startswith("req_")
    items = target.client.v1.checkout.sessions.line_items.list(s.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("基本料金", 1, 10_000),
        ("従量料金", 2, 2_340),
    ]


def test_retrieve_and_list(target: Target) -> None:
    created = [target.client.v1.checkout.sessions.create(_params(target)) for _ in range(3)]
    got = target.client.v1.checkout.sessions.retrieve(created[0].id)
    assert got.id == created[0].id and got.amount_total == created[0].amount_total
    page = target.client.v1.checkout.sessions.list({"limit": 2})
    assert page.object == "list" and len(page.data) == 2 and page.has_more is True
    assert all(s.object == "checkout.session" for s in page.data)
    after = target.client.v1.checkout.sessions.list({"limit": 2, "starting_after": page.data[-1].id})
    assert {s.id for s in page.data}.isdisjoint({s.id for s in after.data})
    if target.base is not None:  # the sandbox is all ours: paging reaches the three, newest first
        ids = [s.id for s in target.client.v1.checkout.sessions.list({"limit": 100}).auto_paging_iter()]
        assert ids.index(created[2].id) < ids.index(created[1].id) < ids.index(created[0].id)
    by_customer = target.client.v1.checkout.sessions.list({"customer": created[1].customer})
    assert [s.id for s in by_customer.data] == [created[1].id]


def test_expire_sends_signed_event(target: Target, receiver: Receiver) -> None:
    s = target.client.v1.checkout.sessions.create(_params(target))
    expired = target.client.v1.checkout.sessions.expire(s.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError) as again:
        target.client.v1.checkout.sessions.expire(s.id)
    assert again.value.http_status == 400 and "open" in again.value.user_message
    if target.base is None:
        return
    wait_until(lambda: any(e.type == "checkout.session.expired" for e in _events(receiver)))
    event = next(e for e in _events(receiver) if e.type == "checkout.session.expired" and e.data.object.id == s.id)
    assert event.api_version == API_VERSION and event.livemode is False
    assert event.pending_webhooks >= 1 and event.request.id.startswith("req_")


# ------------------------------------------------------------------ errors


def _error(call: Any) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as caught:
        call()
    return caught.value


def test_errors_have_stripe_shape(target: Target) -> None:
    sessions = target.client.v1.checkout.sessions
    missing = _error(lambda: sessions.create(_params(target, mode=None)))
    assert isinstance(missing, stripe.InvalidRequestError) and missing.http_status == 400
    assert missing.code == "parameter_missing" and missing.param == "mode"
    assert missing.error.type == "invalid_request_error" and missing.error.message

    bad_int = _error(lambda: sessions.create(_params(target, line_items=[_line("x", "abc")])))  # type: ignore[arg-type]
    assert isinstance(bad_int, stripe.InvalidRequestError) and bad_int.code == "parameter_invalid_integer"
    assert bad_int.param == "line_items[0][price_data][unit_amount]"

    unknown = _error(lambda: sessions.create(_params(target, colour="blue")))
    assert unknown.code == "parameter_unknown" and unknown.param == "colour"

    too_small = _error(
        lambda: sessions.create(_params(target, line_items=[_line("x", 10)], payment_method_types=["card"]))
    )
    assert isinstance(too_small, stripe.InvalidRequestError) and too_small.code == "amount_too_small"

    nothing = _error(lambda: sessions.retrieve("cs_test_nope"))
    assert isinstance(nothing, stripe.InvalidRequestError) and nothing.http_status == 404
    assert nothing.code == "resource_missing" and nothing.param == "id"

    base = target.base or "https://api.stripe.com"
    wrong_key = stripe.StripeClient("sk_test_wrong", base_addresses={"api": base}, max_network_retries=0)
    auth = _error(lambda: wrong_key.v1.checkout.sessions.list())
    assert isinstance(auth, stripe.AuthenticationError) and auth.http_status == 401


def test_konbini_amount_range(target: Target) -> None:
    sessions = target.client.v1.checkout.sessions
    for amount, code in ((119, "amount_too_small"), (300_001, "amount_too_large")):
        err = _error(
            lambda a=amount: sessions.create(
                _params(target, line_items=[_line("x", a)], payment_method_types=["konbini"])
            )
        )
        assert isinstance(err, stripe.InvalidRequestError) and err.http_status == 400
        if target.base is not None:
            assert err.code == code and err.param == "payment_method_types"
    for amount in (120, 300_000):
        ok = sessions.create(_params(target, line_items=[_line("x", amount)], payment_method_types=["konbini"]))
        assert ok.amount_total == amount


def test_bank_transfer_needs_customer_and_jp_bank_transfer(target: Target) -> None:
    sessions = target.client.v1.checkout.sessions
    no_customer = _error(
        lambda: sessions.create(_params(target, customer=None, payment_method_types=["customer_balance"]))
    )
    assert isinstance(no_customer, stripe.InvalidRequestError) and no_customer.http_status == 400
    no_options = _error(
        lambda: sessions.create(_params(target, payment_method_types=["customer_balance"], payment_method_options={}))
    )
    assert isinstance(no_options, stripe.InvalidRequestError)
    if target.base is not None:
        assert no_customer.param == "customer"
        assert no_options.param == "payment_method_options[customer_balance][funding_type]"
    ok = sessions.create(_params(target, payment_method_types=["customer_balance"]))
    assert ok.payment_method_types == ["customer_balance"]


# ------------------------------------------------------------------ idempotency


def test_idempotency_replay(target: Target) -> None:
    sessions = target.client.v1.checkout.sessions
    key = f"contract-{uuid.uuid4()}"
    params = _params(target)
    first = sessions.create(params, {"idempotency_key": key})
    assert first.last_response.headers.get("idempotent-replayed") in (None, "false")
    again = sessions.create(params, {"idempotency_key": key})
    assert again.id == first.id and again.to_dict() == first.to_dict()
    assert again.last_response.headers.get("idempotent-replayed") == "true"


def test_idempotency_mismatch_is_refused(target: Target) -> None:
    sessions = target.client.v1.checkout.sessions
    key = f"contract-{uuid.uuid4()}"
    params = _params(target)
    sessions.create(params, {"idempotency_key": key})
    different = _error(lambda: sessions.create({**params, "client_reference_id": "r8"}, {"idempotency_key": key}))
    assert isinstance(different, stripe.IdempotencyError) and different.http_status == 400
    assert different.error.type == "idempotency_error"


# ------------------------------------------------------------------ the customer's side, webhooks


def _pay(base: str, session_id: str, method: str, outcome: str = "success") -> httpx.Response:
    return httpx.post(f"{base}/pay/{session_id}", data={"method": method, "outcome": outcome})


def _events_for(receiver: Receiver, session_id: str) -> list[stripe.Event]:
    return [e for e in _events(receiver) if e.data.object.to_dict().get("id") == session_id]


def test_card_payment_webhook_verified_by_sdk(target: Target, receiver: Receiver) -> None:
    base = sandbox_only(target)
    s = target.client.v1.checkout.sessions.create(_params(target))
    assert _pay(base, s.id, "card").status_code == 303
    (event,) = _events_for(receiver, s.id)
    assert event.type == "checkout.session.completed" and event.object == "event"
    obj = event.data.object
    assert obj["payment_status"] == "paid" and obj["status"] == "complete"
    assert obj["payment_intent"].startswith("pi_") and obj["customer_details"]["name"]
    assert event.request.id is None  # the customer's action, not an API request
    pi = target.client.v1.payment_intents.retrieve(
        obj["payment_intent"], {"expand": ["payment_method", "latest_charge"]}
    )
    assert pi.status == "succeeded" and pi.amount == s.amount_total
    assert pi.payment_method.type == "card" and pi.latest_charge.payment_method_details.type == "card"
    listed = target.client.v1.checkout.sessions.list({"payment_intent": pi.id})
    assert [x.id for x in listed.data] == [s.id]


def test_konbini_voucher_is_stripe_shaped(target: Target, receiver: Receiver) -> None:
    base = sandbox_only(target)
    s = target.client.v1.checkout.sessions.create(_params(target))
    _pay(base, s.id, "konbini")
    (completed,) = _events_for(receiver, s.id)
    assert completed.type == "checkout.session.completed"
    assert completed.data.object["payment_status"] == "unpaid"
    pi = target.client.v1.payment_intents.retrieve(completed.data.object["payment_intent"])
    assert pi.status == "requires_action" and pi.next_action.type == "konbini_display_details"
    details = pi.next_action.konbini_display_details
    assert details.hosted_voucher_url.startswith(base) and details.expires_at > time.time()
    assert set(details.stores.to_dict()) == {"familymart", "lawson", "ministop", "seicomart"}
    assert details.stores["lawson"].confirmation_number.isdigit() and details.stores["lawson"].payment_code.isdigit()
    assert "払込票" in httpx.get(details.hosted_voucher_url).text
    pending = httpx.get(f"{base}/pending").text
    assert s.id[-10:] in pending
    httpx.post(f"{base}/pending/{s.id}", data={"result": "paid"})
    kinds = [e.type for e in _events_for(receiver, s.id)]
    assert kinds == ["checkout.session.completed", "checkout.session.async_payment_succeeded"]
    assert target.client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_bank_transfer_instructions_are_stripe_shaped(target: Target, receiver: Receiver) -> None:
    """``display_bank_transfer_instructions`` as Stripe shapes it (a zengin
    account) while the transfer is awaited; then the transfer arrives."""
    base = sandbox_only(target)
    s = target.client.v1.checkout.sessions.create(_params(target))
    assert _pay(base, s.id, "bank", "pending").status_code == 303
    (completed,) = _events_for(receiver, s.id)
    assert completed.type == "checkout.session.completed" and completed.data.object["payment_status"] == "unpaid"
    pi = target.client.v1.payment_intents.retrieve(
        completed.data.object["payment_intent"], {"expand": ["payment_method"]}
    )
    assert pi.payment_method.type == "customer_balance" and pi.status == "requires_action"
    assert pi.next_action.type == "display_bank_transfer_instructions"
    instr = pi.next_action.display_bank_transfer_instructions
    assert instr.type == "jp_bank_transfer" and instr.amount_remaining == s.amount_total and instr.currency == "jpy"
    zengin = instr.financial_addresses[0].zengin
    assert zengin.bank_name and zengin.branch_name and zengin.account_number.isdigit()
    assert instr.hosted_instructions_url.startswith(base)
    httpx.post(f"{base}/pending/{s.id}", data={"result": "paid"})
    assert [e.type for e in _events_for(receiver, s.id)] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]

    failed = target.client.v1.checkout.sessions.create(_params(target))
    _pay(base, failed.id, "bank", "failure")
    assert [e.type for e in _events_for(receiver, failed.id)] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]


def test_refund_full_and_partial(target: Target, receiver: Receiver) -> None:
    base = sandbox_only(target)
    s = target.client.v1.checkout.sessions.create(_params(target))
    _pay(base, s.id, "card")
    pi = _events_for(receiver, s.id)[0].data.object["payment_intent"]
    part = target.client.v1.refunds.create({"payment_intent": pi, "amount": 1_000, "reason": "requested_by_customer"})
    assert part.object == "refund" and part.amount == 1_000 and part.status == "succeeded"
    rest = target.client.v1.refunds.create({"payment_intent": pi}, {"idempotency_key": f"r-{uuid.uuid4()}"})
    assert rest.amount == s.amount_total - 1_000
    too_much = _error(lambda: target.client.v1.refunds.create({"payment_intent": pi, "amount": 1}))
    assert isinstance(too_much, stripe.InvalidRequestError) and too_much.code == "charge_already_refunded"

    def refunded() -> list[stripe.Event]:
        return [e for e in _events(receiver) if e.type == "charge.refunded" and e.data.object["payment_intent"] == pi]

    wait_until(lambda: len(refunded()) == 2)
    assert sorted(e.data.object["amount_refunded"] for e in refunded()) == [1_000, s.amount_total]


def test_every_webhook_sent_verifies_with_the_sdk(target: Target, receiver: Receiver) -> None:
    base = sandbox_only(target)
    s = target.client.v1.checkout.sessions.create(_params(target))
    _pay(base, s.id, "konbini")  # at least one event of its own, whatever ran before
    assert receiver.received
    events = _events(receiver)  # raises SignatureVerificationError on any bad one
    for event in events:
        assert event.id.startswith("evt_") and event.api_version == API_VERSION
        assert set(json.loads(json.dumps(event.to_dict()))) >= {
            "id",
            "object",
            "api_version",
            "created",
            "data",
            "livemode",
            "pending_webhooks",
            "request",
            "type",
        }
    tampered = receiver.received[0][0].replace(b'"livemode": false', b'"livemode": true')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, receiver.received[0][1], SANDBOX_WHSEC)


# ------------------------------------------------------------------ payment intents confirmed server-side (issue 14)


def _konbini_intent(**over: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": 12_340,
        "currency": "jpy",
        "confirm": True,
        "payment_method_types": ["konbini"],
        "payment_method_data": {
            "type": "konbini",
            "billing_details": {"name": "山田太郎", "email": "taro@example.jp"},
        },
        "payment_method_options": {"konbini": {"expires_after_days": 3}},
        "metadata": {"payment_id": "43"},
    }
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def test_konbini_payment_intent_confirmed_server_side(target: Target, receiver: Receiver) -> None:
    """The voucher route: a PaymentIntent created with ``confirm=true`` and
    ``payment_method_data[type]=konbini`` answers ``requires_action`` with
    ``konbini_display_details``; paid at the store, ``payment_intent.succeeded``."""
    pi = target.client.v1.payment_intents.create(_konbini_intent())
    assert pi.object == "payment_intent" and pi.amount == 12_340 and pi.currency == "jpy"
    assert pi.status == "requires_action" and pi.payment_method_types == ["konbini"]
    assert pi.metadata["payment_id"] == "43"
    details = pi.next_action.konbini_display_details
    assert pi.next_action.type == "konbini_display_details" and details.expires_at > time.time()
    assert details.stores["familymart"].payment_code.isdigit()
    method = target.client.v1.payment_intents.retrieve(pi.id, {"expand": ["payment_method"]}).payment_method
    assert method.type == "konbini" and method.billing_details.email == "taro@example.jp"
    base = sandbox_only(target)
    assert pi.id[-10:] in httpx.get(f"{base}/pending").text
    httpx.post(f"{base}/pending/{pi.id}", data={"result": "paid"})
    (event,) = [e for e in _events(receiver) if e.data.object.to_dict().get("id") == pi.id]
    assert event.type == "payment_intent.succeeded" and event.data.object["status"] == "succeeded"
    assert event.data.object["metadata"]["payment_id"] == "43"
    assert target.client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_konbini_payment_intent_needs_name_and_email(target: Target) -> None:
    intents = target.client.v1.payment_intents
    no_email = _error(
        lambda: intents.create(
            _konbini_intent(payment_method_data={"type": "konbini", "billing_details": {"name": "山田太郎"}})
        )
    )
    assert isinstance(no_email, stripe.InvalidRequestError)
    assert no_email.param == "payment_method_data[billing_details][email]"
    too_small = _error(lambda: intents.create(_konbini_intent(amount=100)))
    assert isinstance(too_small, stripe.InvalidRequestError) and too_small.param == "amount"


def test_bank_transfer_payment_intent_confirmed_server_side(target: Target, receiver: Receiver) -> None:
    intents = target.client.v1.payment_intents
    params: dict[str, Any] = {
        "amount": 12_340,
        "currency": "jpy",
        "confirm": True,
        "customer": _customer(target),
        "payment_method_types": ["customer_balance"],
        "payment_method_data": {"type": "customer_balance"},
        "payment_method_options": {
            "customer_balance": {"funding_type": "bank_transfer", "bank_transfer": {"type": "jp_bank_transfer"}}
        },
    }
    pi = intents.create(params)
    assert pi.status == "requires_action" and pi.next_action.type == "display_bank_transfer_instructions"
    instr = pi.next_action.display_bank_transfer_instructions
    assert instr.type == "jp_bank_transfer" and instr.amount_remaining == 12_340
    assert instr.financial_addresses[0].zengin.account_number.isdigit()
    no_customer = _error(lambda: intents.create({k: v for k, v in params.items() if k != "customer"}))
    assert isinstance(no_customer, stripe.InvalidRequestError) and no_customer.param == "customer"
