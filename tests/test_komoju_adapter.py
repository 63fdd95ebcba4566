"""The KOMOJU adapter (providers/payments/komoju.py) against real HTTP peers:
the KOMOJU sandbox (errors keep KOMOJU's code/param/message; sessions,
server-side konbini / Pay-easy / bank-transfer payments with their numbers,
refunds), a recording server that fails the way networks do (5xx, dropped
connections: retried with the same ``X-KOMOJU-IDEMPOTENCY``; 4xx never), and
webhooks (``X-Komoju-Signature``: forged or stale refused)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

from smspay_app.providers.payments import komoju_sandbox
from smspay_app.providers.payments.base import CheckoutRequest, DirectPaymentRequest, GatewayError, SignatureError
from smspay_app.providers.payments.komoju import KomojuGateway, sign
from tests.helpers import free_port, wait_until

KEY = "sk_test_komoju_adapter"
HOOK_SECRET = "komoju_adapter_hook_secret"


class Receiver:
    """Where the sandbox posts its webhooks: keeps each body and header."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/hooks"
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(scope="module")
def sandbox_base(receiver: Receiver) -> Iterator[str]:
    port = free_port()
    app = komoju_sandbox.create_app(komoju_sandbox.KomojuSandboxConfig(KEY, HOOK_SECRET, receiver.url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_until(lambda: server.started, timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True


def _gateway(base: str, **kw: Any) -> KomojuGateway:
    return KomojuGateway(api_base=f"{base}/api/v1", secret_key=KEY, webhook_secret=HOOK_SECRET, retry_delay=0.01, **kw)


def _request(**kw: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "amount_yen": 4_980,
        "item_name": "4月分のご請求",
        "success_url": "https://example.test/l/t/done",
        "cancel_url": "https://example.test/l/t/cancelled",
        "client_reference_id": "r1",
        "payment_id": 1,
        "payment_method_types": ("card", "customer_balance", "konbini"),
    }
    fields.update(kw)
    return CheckoutRequest(**fields)


def _direct(method: str, **kw: Any) -> DirectPaymentRequest:
    fields: dict[str, Any] = {
        "amount_yen": 4_980,
        "method": method,
        "payment_id": 7,
        "client_reference_id": "r7",
        "idempotency_key": f"smspay-direct-{method}-{time.monotonic_ns()}",
        "payer_email": "payer@example.test",
        "payer_phone": "09012345678",
        "payer_name": "山田 太郎",
    }
    fields.update(kw)
    return DirectPaymentRequest(**fields)


def test_a_session_is_created_read_and_cancelled(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    checkout = gw.create_checkout(
        _request(lines=(("基本料金", 1, 4_000), ("従量料金", 2, 490)), merchant_name="テスト電力", locale="en")
    )
    assert len(checkout.id) == 25 and checkout.url == f"{sandbox_base}/sessions/{checkout.id}"
    assert checkout.expires_at > time.time()
    raw = gw.retrieve_checkout(checkout.id)
    assert raw["status"] == "pending" and raw["amount"] == 4_980 and raw["currency"] == "JPY"
    assert [m["type"] for m in raw["payment_methods"]] == [
        "credit_card",
        "paypay",
        "bank_transfer",
        "pay_easy",
        "konbini",
    ]
    assert raw["metadata"]["payment_id"] == "1" and raw["payment_data"]["external_order_num"] == "smspay-1"
    assert raw["default_locale"] == "en" and raw["line_items"][1]["quantity"] == 2
    # the same idempotency key answers the same session
    again = gw.create_checkout(_request(idempotency_key="smspay-payment-9"))
    assert gw.create_checkout(_request(idempotency_key="smspay-payment-9")).id == again.id
    assert gw.expire_checkout(checkout.id)["status"] == "cancelled"
    assert gw.expire_checkout(checkout.id)["status"] == "cancelled"  # the same key: the same answer
    twice = httpx.post(f"{sandbox_base}/api/v1/sessions/{checkout.id}/cancel", auth=(KEY, ""))
    assert twice.status_code == 422 and twice.json()["error"]["code"] == "unprocessable_entity"
    with pytest.raises(GatewayError) as unknown:
        gw.expire_checkout(again.id + "x")
    assert unknown.value.status == 404 and unknown.value.code == "not_found"


def test_check_credentials_is_a_harmless_read(sandbox_base: str) -> None:
    assert _gateway(sandbox_base).check_credentials() == "ok"
    wrong = KomojuGateway(api_base=f"{sandbox_base}/api/v1", secret_key="sk_wrong", webhook_secret="")
    assert wrong.check_credentials() == "bad_credentials"
    nowhere = KomojuGateway(api_base=f"http://127.0.0.1:{free_port()}/api/v1", secret_key=KEY, webhook_secret="")
    nowhere.retry_delay = 0.01
    assert nowhere.check_credentials() == "unreachable"
    assert KomojuGateway.signature_header == "x-komoju-signature"


def test_errors_keep_komojus_code_param_and_message(sandbox_base: str) -> None:
    with pytest.raises(GatewayError) as bad_key:
        KomojuGateway(api_base=f"{sandbox_base}/api/v1", secret_key="sk_wrong", webhook_secret="").retrieve_checkout(
            "x"
        )
    assert bad_key.value.status == 401 and bad_key.value.code == "unauthorized"
    gw = _gateway(sandbox_base)
    with pytest.raises(GatewayError) as zero:
        gw.create_checkout(_request(amount_yen=0))
    assert zero.value.status == 400 and zero.value.code == "invalid_parameter" and zero.value.param == "amount"
    assert "HTTP 400" in str(zero.value) and "invalid_parameter" in str(zero.value)
    with pytest.raises(GatewayError) as missing:
        gw.retrieve_payment("nope")
    assert missing.value.status == 404 and missing.value.code == "not_found" and not missing.value.retryable
    with pytest.raises(GatewayError) as no_email:
        gw.create_direct_payment(_direct("konbini", payer_email=""))
    assert no_email.value.code == "missing_parameter" and no_email.value.param == "payment_details[email]"
    with pytest.raises(GatewayError) as card:
        gw.create_direct_payment(_direct("card"))
    assert card.value.code == "unsupported_method"


@pytest.mark.parametrize(
    ("method", "voucher_type", "numbers"),
    [
        ("konbini", "konbini_display_details", ("confirmation_number", "payment_code")),
        ("pay_easy", "pay_easy_display_details", ("bank_id", "customer_id", "confirmation_id")),
        ("bank_transfer", "display_bank_transfer_instructions", ("reference",)),
    ],
)
def test_direct_payments_answer_their_numbers(
    sandbox_base: str, receiver: Receiver, method: str, voucher_type: str, numbers: tuple[str, ...]
) -> None:
    gw = _gateway(sandbox_base)
    request = _direct(method)
    direct = gw.create_direct_payment(request)
    assert direct.status == "processing" and direct.raw["status"] == "authorized"
    assert direct.method == {"bank_transfer": "bank"}.get(method, method)
    assert direct.voucher["type"] == voucher_type and direct.expires_at > time.time()
    body = direct.voucher[voucher_type]
    if method == "konbini":
        body = body["stores"]["lawson"]
    for name in numbers:
        assert str(body[name]).isdigit(), (name, body)
    assert gw.create_direct_payment(request).id == direct.id  # the same key: the same payment
    wait_until(lambda: any(json.loads(b)["data"]["id"] == direct.id for _, b in receiver.calls), timeout=10)


def test_the_sandbox_speaks_the_sdks_locales_only(sandbox_base: str) -> None:
    """KOMOJU's Locale (the official SDK's models/locale.ts): ja, en, ko."""
    body = {"amount": 100, "currency": "JPY", "return_url": "https://example.test/done"}
    for locale, status in (("ko", 200), ("zh", 400)):
        answer = httpx.post(f"{sandbox_base}/api/v1/sessions", auth=(KEY, ""), json={**body, "default_locale": locale})
        assert answer.status_code == status, (locale, answer.text)
    assert answer.json()["error"]["param"] == "default_locale"


def test_a_konbini_payment_goes_to_the_store_the_payer_chose(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    chosen = gw.create_direct_payment(_direct("konbini", konbini_store="family-mart"))
    assert chosen.raw["payment_details"]["store"] == "family-mart"
    assert list(chosen.voucher["konbini_display_details"]["stores"]) == ["familymart"]
    default = gw.create_direct_payment(_direct("konbini"))  # none chosen: the adapter's default
    assert default.raw["payment_details"]["store"] == "lawson"


def test_refunds_of_a_card_payment_and_not_of_a_voucher(sandbox_base: str) -> None:
    gw = _gateway(sandbox_base)
    direct = gw.create_direct_payment(_direct("konbini"))
    with pytest.raises(GatewayError) as not_yet:
        gw.create_refund(payment_intent=direct.id, amount_yen=100, reason="", metadata={}, idempotency_key="r-0")
    assert not_yet.value.status == 422 and not_yet.value.code == "unprocessable_entity"
    assert httpx.post(f"{sandbox_base}/pending/{direct.id}", data={"result": "captured"}).status_code == 303
    assert gw.retrieve_payment(direct.id)["status"] == "captured"
    with pytest.raises(GatewayError) as voucher:  # as KOMOJU: a konbini payment needs a refund request
        gw.create_refund(payment_intent=direct.id, amount_yen=100, reason="", metadata={}, idempotency_key="r-00")
    assert voucher.value.status == 422 and "refund request" in voucher.value.message

    checkout = gw.create_checkout(_request(payment_method_types=("card",)))
    paid = httpx.post(checkout.url, data={"payment_type": "credit_card", "outcome": "success"})
    assert paid.status_code == 303 and paid.headers["location"].endswith(f"session_id={checkout.id}")
    session = gw.retrieve_checkout(checkout.id)
    assert session["status"] == "completed" and session["payment"]["status"] == "captured"
    details = gw.payment_details(session)
    assert details.method == "card" and details.payment_intent == session["payment"]["id"]
    pid = details.payment_intent
    refund = gw.create_refund(
        payment_intent=pid, amount_yen=980, reason="requested_by_customer", metadata={}, idempotency_key="r-1"
    )
    assert refund["payment"] == pid and refund["amount"] == 980 and refund["resource"] == "refund"
    shown = gw.retrieve_payment(pid)
    assert shown["status"] == "captured" and shown["amount_refunded"] == 980
    with pytest.raises(GatewayError) as too_much:
        gw.create_refund(payment_intent=pid, amount_yen=4_001, reason="", metadata={}, idempotency_key="r-2")
    assert too_much.value.code == "invalid_parameter" and too_much.value.param == "amount"
    gw.create_refund(payment_intent=pid, amount_yen=4_000, reason="", metadata={}, idempotency_key="r-3")
    assert gw.retrieve_payment(pid)["status"] == "refunded"


# ------------------------------------------------------------------ webhooks


def _event(event_type: str = "payment.captured", created: float | None = None) -> bytes:
    payment = {"id": "p" * 25, "resource": "payment", "status": "captured", "amount": 100, "currency": "JPY"}
    body = {
        "id": "e" * 25,
        "type": event_type,
        "resource": "event",
        "data": payment,
        "created_at": komoju_sandbox._iso(created),
        "reason": None,
    }
    return json.dumps(body).encode()


def test_webhooks_are_verified_on_the_raw_body() -> None:
    gw = KomojuGateway(api_base="http://unused", secret_key=KEY, webhook_secret=HOOK_SECRET)
    body = _event()
    event = gw.parse_webhook(body, sign(HOOK_SECRET, body))
    assert event.type == "payment.captured" and event.outcome is not None
    assert event.outcome.kind == "paid" and event.outcome.payment_ref == "p" * 25
    with pytest.raises(SignatureError):
        gw.parse_webhook(body, sign("another secret", body))  # forged
    with pytest.raises(SignatureError):
        gw.parse_webhook(body + b" ", sign(HOOK_SECRET, body))  # the body changed
    with pytest.raises(SignatureError):
        gw.parse_webhook(body, None)
    old = _event(created=time.time() - 3_600)
    with pytest.raises(SignatureError, match="tolerance"):
        gw.parse_webhook(old, sign(HOOK_SECRET, old))  # a replay of an old delivery


def test_the_sandbox_signs_what_it_sends(sandbox_base: str, receiver: Receiver) -> None:
    gw = _gateway(sandbox_base)
    direct = gw.create_direct_payment(_direct("pay_easy"))
    wait_until(lambda: any(json.loads(b)["data"]["id"] == direct.id for _, b in receiver.calls), timeout=10)
    headers, body = next((h, b) for h, b in receiver.calls if json.loads(b)["data"]["id"] == direct.id)
    assert headers["x-komoju-event"] == "payment.authorized" and len(headers["x-komoju-id"]) == 25
    event = gw.parse_webhook(body, headers["x-komoju-signature"])
    assert event.outcome is not None and event.outcome.kind == "processing" and event.outcome.method == "pay_easy"
    assert event.outcome.voucher is not None and event.outcome.voucher["type"] == "pay_easy_display_details"


def test_each_merchant_sees_its_own_and_gets_its_own_signed_events(sandbox_base: str, receiver: Receiver) -> None:
    other = Receiver()
    added = httpx.post(
        f"{sandbox_base}/_merchants",
        json={"secret_key": "sk_test_merchant_b", "webhook_url": other.url, "webhook_secret": "hook_b"},
    )
    assert added.status_code == 200
    b = KomojuGateway(api_base=f"{sandbox_base}/api/v1", secret_key="sk_test_merchant_b", webhook_secret="hook_b")
    direct = b.create_direct_payment(_direct("konbini"))
    assert b.retrieve_payment(direct.id)["id"] == direct.id
    with pytest.raises(GatewayError) as not_mine:
        _gateway(sandbox_base).retrieve_payment(direct.id)  # merchant A cannot see B's payment
    assert not_mine.value.status == 404
    wait_until(lambda: len(other.calls) == 1, timeout=10)
    headers, body = other.calls[0]
    assert b.parse_webhook(body, headers["x-komoju-signature"]).outcome is not None
    with pytest.raises(SignatureError):
        _gateway(sandbox_base).parse_webhook(body, headers["x-komoju-signature"])  # A's secret: refused
    assert not any(json.loads(raw)["data"]["id"] == direct.id for _, raw in receiver.calls)


# ------------------------------------------------------------------ retries


class Recorder:
    """A KOMOJU stand-in that fails the first requests as told: ``drop`` or
    an HTTP status; keeps every request's headers."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.headers: list[dict[str, str]] = []
        port = free_port()
        self.base = f"http://127.0.0.1:{port}/api/v1"
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = rec.script.pop(0) if rec.script else 200
                if step == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = (
                    {"id": "s" * 25, "session_url": "https://komoju.test/sessions/x", "created_at": None}
                    if step == 200
                    else {"error": {"code": "internal_server_error", "message": "Something went wrong", "param": None}}
                )
                data = json.dumps(body).encode()
                self.send_response(step)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _answer  # noqa: N815
            do_GET = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_5xx_and_dropped_connections_are_retried_with_the_same_key() -> None:
    rec = Recorder(["drop", 502, 200])
    try:
        checkout = _gateway(rec.base.removesuffix("/api/v1")).create_checkout(
            _request(idempotency_key="smspay-payment-1")
        )
        assert checkout.id == "s" * 25
        assert [h["x-komoju-idempotency"] for h in rec.headers] == ["smspay-payment-1"] * 3
        assert {h["authorization"] for h in rec.headers} == {"Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    finally:
        rec.close()


def test_retries_give_up_and_4xx_is_not_retried() -> None:
    rec = Recorder([503, 503, 503, 200])
    try:
        with pytest.raises(GatewayError) as caught:
            _gateway(rec.base.removesuffix("/api/v1"), max_retries=2).create_checkout(_request())
        assert caught.value.status == 503 and caught.value.code == "internal_server_error" and caught.value.retryable
        assert len(rec.headers) == 3 and len({h["x-komoju-idempotency"] for h in rec.headers}) == 1
    finally:
        rec.close()
    rec = Recorder([422])
    try:
        with pytest.raises(GatewayError):
            _gateway(rec.base.removesuffix("/api/v1")).retrieve_checkout("x")
        assert len(rec.headers) == 1
    finally:
        rec.close()
