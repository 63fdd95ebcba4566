"""The Stripe adapter (providers/payments/stripe.py) against real HTTP peers:
the sandbox (errors keep Stripe's code/param/message; bank transfer as
Stripe's Japanese guide passes it) and a recording server that fails the way
networks do (5xx, dropped connections: retried with the same idempotency
key), and the method recorded from live-shaped events."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import select

from smspay_app.models import Payment
from smspay_app.providers.payments import sandbox
from smspay_app.providers.payments.base import CheckoutRequest, GatewayError
from smspay_app.providers.payments.stripe import API_VERSION, StripeCheckoutGateway
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, forms_of, free_port, reload, wait_until

KEY = "sk_test_adapter"


@pytest.fixture(scope="module")
def sandbox_base() -> Iterator[str]:
    port = free_port()
    app = sandbox.create_app(sandbox.SandboxConfig(KEY, "whsec_adapter", f"http://127.0.0.1:{free_port()}/nowhere"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_until(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True


def _gateway(base: str, **kw: Any) -> StripeCheckoutGateway:
    return StripeCheckoutGateway(api_base=base, secret_key=KEY, webhook_secret="whsec_adapter", retry_delay=0.01, **kw)


def _request(**kw: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "amount_yen": 4_980,
        "item_name": "4月分のご請求",
        "success_url": "https://example.test/l/t/done",
        "cancel_url": "https://example.test/l/t/cancelled",
        "client_reference_id": "r1",
        "payment_id": 1,
    }
    fields.update(kw)
    return CheckoutRequest(**fields)


def test_errors_keep_stripes_code_param_and_message(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    with pytest.raises(GatewayError) as caught:
        gw.create_checkout(_request(amount_yen=100, payment_method_types=("konbini",)))
    err = caught.value
    assert err.status == 400 and err.type == "invalid_request_error"
    assert err.code == "amount_too_small" and err.param == "payment_method_types"
    assert "konbini" in err.message and err.request_id.startswith("req_")
    assert "amount_too_small" in str(err) and "HTTP 400" in str(err)
    with pytest.raises(GatewayError) as missing:
        gw.retrieve_checkout("cs_test_nope")
    assert missing.value.status == 404 and missing.value.code == "resource_missing"


def test_bank_transfer_as_stripes_japanese_guide(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    form = dict(StripeCheckoutGateway.checkout_form(_request(customer="cus_x")))
    assert form["payment_method_options[customer_balance][funding_type]"] == "bank_transfer"
    assert form["payment_method_options[customer_balance][bank_transfer][type]"] == "jp_bank_transfer"
    assert form["customer"] == "cus_x"
    customer = gw.create_customer(name="recipient 1", metadata={"recipient_id": "1"}, idempotency_key="c-1")
    assert gw.create_customer(name="recipient 1", metadata={"recipient_id": "1"}, idempotency_key="c-1") == customer
    checkout = gw.create_checkout(_request(customer=customer))
    raw = gw.retrieve_checkout(checkout.id)
    assert raw["customer"] == customer and "customer_balance" in raw["payment_method_types"]
    with pytest.raises(GatewayError) as no_customer:
        gw.create_checkout(_request())
    assert no_customer.value.param == "customer"


def test_several_lines_are_sent_and_totalled(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    checkout = gw.create_checkout(
        _request(
            amount_yen=12_340, lines=(("基本料金", 1, 10_000), ("従量料金", 2, 1_170)), payment_method_types=("card",)
        )
    )
    assert checkout.raw["amount_total"] == 12_340 and checkout.expires_at > 0


class Recorder:
    """A Stripe stand-in that fails the first requests as told: ``drop``
    (closes the connection without an answer) or an HTTP status; keeps every
    request's headers."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.headers: list[dict[str, str]] = []
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = rec.script.pop(0) if rec.script else 200
                if step == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = (
                    {"id": "cs_test_ok", "url": "https://checkout.test/pay/cs_test_ok", "expires_at": 2_000_000_000}
                    if step == 200
                    else {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}
                )
                data = json.dumps(body).encode()
                self.send_response(step)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_rec")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_5xx_and_dropped_connections_are_retried_with_the_same_key() -> None:
    rec = Recorder(["drop", 500, 200])
    try:
        checkout = _gateway(rec.base).create_checkout(_request(idempotency_key="smspay-payment-1"))
        assert checkout.id == "cs_test_ok"
        assert [h["idempotency-key"] for h in rec.headers] == ["smspay-payment-1"] * 3
        assert {h["stripe-version"] for h in rec.headers} == {API_VERSION}
    finally:
        rec.close()


def test_retries_give_up_with_the_last_error() -> None:
    rec = Recorder([503, 503, 503, 200])
    try:
        with pytest.raises(GatewayError) as caught:
            _gateway(rec.base, max_retries=2).create_checkout(_request())
        assert caught.value.status == 503 and caught.value.type == "api_error"
        assert caught.value.retryable and len(rec.headers) == 3
        keys = {h["idempotency-key"] for h in rec.headers}
        assert len(keys) == 1 and keys.pop().startswith("smspay-")  # a key of its own, the same each time
    finally:
        rec.close()


def test_4xx_is_not_retried() -> None:
    rec = Recorder([400])
    try:
        with pytest.raises(GatewayError):
            _gateway(rec.base).create_checkout(_request())
        assert len(rec.headers) == 1
    finally:
        rec.close()


# ------------------------------------------------------------------ the method, from live-shaped events


@pytest.fixture
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


@pytest.mark.usefixtures("_fresh_limits")
@pytest.mark.parametrize("method", ["card", "bank", "konbini"])
def test_method_recorded_from_the_payment_intent(live_server, session, method: str) -> None:
    """The sandbox sends what live Stripe sends: every offered method in
    ``payment_method_types`` and the payment intent as an id; the adapter
    reads the method from the payment intent."""
    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        q1, q2 = j.question_ids
        client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
        to_gateway = client.post(f"/l/{j.token}/pay", data={})
        hosted = client.get(to_gateway.headers["location"])
        form = forms_of(hosted.text)[0]
        client.post(form["action"], data={"method": method, "outcome": "success"})
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    payment = reload(session, Payment, payment.id)
    assert payment.method == method
    assert payment.provider_payment_intent.startswith("pi_")
    deliveries = httpx.get(f"{live_server.base_url}/sim/stripe/_deliveries").json()["deliveries"]
    sent = json.loads(deliveries[0]["body"])["data"]["object"]
    assert len(sent["payment_method_types"]) == 3 and isinstance(sent["payment_intent"], str)
    assert "sandbox_payment_method" not in sent
