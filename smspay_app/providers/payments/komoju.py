"""KOMOJU adapter (httpx): a hosted payment page through ``POST /sessions``,
server-side konbini / Pay-easy / bank-transfer payments through
``POST /payments`` (the voucher route, issue 14), refunds, and signed
``payment.*`` webhooks mapped to a gateway-neutral ``GatewayOutcome``. The
built-in KOMOJU sandbox (``komoju_sandbox``) speaks the same API, so this
adapter is the code under test (tests/test_komoju_adapter.py,
tests/test_komoju_contract.py).

- Basic auth with the secret key as the user name and no password.
- Every POST carries ``X-KOMOJU-IDEMPOTENCY`` (the caller's key, or a fresh
  one): a 5xx answer or a dropped connection is retried with the same key;
  GETs are retried as they are; 4xx never.
- Errors keep KOMOJU's explanation: ``GatewayError`` has ``status``, ``code``,
  ``param`` and ``message`` (``type`` is ``komoju``).
- Webhooks: ``X-Komoju-Signature`` is the hex HMAC-SHA256 of the raw body
  with the webhook secret (compared in constant time); an event whose
  ``created_at`` is older than ``tolerance`` seconds (a replay) is refused.
- Methods: credit_card -> card, konbini, bank_transfer -> bank, pay_easy,
  paypay. Vouchers are kept in the shapes ``web.vouchers`` shows
  (``konbini_display_details``, ``display_bank_transfer_instructions``,
  ``pay_easy_display_details``).

For a connection of provider ``komoju``:
``KomojuGateway.for_connection(secret_key, webhook_secret, api_base)``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from smspay_app.providers.payments.base import (
    CheckoutRequest,
    CheckoutSession,
    DirectPayment,
    DirectPaymentRequest,
    GatewayError,
    GatewayOutcome,
    PaymentDetails,
    SignatureError,
    WebhookEvent,
)

DEFAULT_TOLERANCE_SECONDS = 300
SESSION_SECONDS = 86_400
# Stripe's names (what services.payments offers) -> KOMOJU's payment types
PAYMENT_TYPES = {
    "card": ("credit_card", "paypay"),
    "customer_balance": ("bank_transfer", "pay_easy"),
    "bank": ("bank_transfer", "pay_easy"),
    "konbini": ("konbini",),
}
METHOD_NAMES = {
    "credit_card": "card",
    "konbini": "konbini",
    "bank_transfer": "bank",
    "pay_easy": "pay_easy",
    "paypay": "paypay",
}
DIRECT_TYPES = {"konbini": "konbini", "pay_easy": "pay_easy", "bank_transfer": "bank_transfer", "bank": "bank_transfer"}
STORE_KEYS = {
    "lawson": "lawson",
    "family-mart": "familymart",
    "ministop": "ministop",
    "seicomart": "seicomart",
    "seven-eleven": "seveneleven",
    "daily-yamazaki": "dailyyamazaki",
}
DEFAULT_STORE = "lawson"  # a server-side konbini payment needs a store: when the request names none
EVENT_KINDS = {
    "payment.captured": "paid",
    "payment.authorized": "processing",
    "payment.failed": "failed",
    "payment.expired": "expired",
    "payment.cancelled": "cancelled",
    "payment.refunded": "refunded",
}


def sign(secret: str, payload: bytes) -> str:
    """The ``X-Komoju-Signature`` value for ``payload``."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def unix_of(value: Any) -> int:
    """KOMOJU's ISO 8601 times (``2026-12-02T05:00:00.000Z``) as unix time; 0 if none."""
    if not value:
        return 0
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


class KomojuGateway:
    signature_header = "x-komoju-signature"  # the request header parse_webhook verifies

    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        webhook_secret: str,
        name: str = "komoju",
        timeout: float = 15.0,
        tolerance: int = DEFAULT_TOLERANCE_SECONDS,
        max_retries: int = 2,
        retry_delay: float = 0.25,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.name = name
        self.timeout = timeout
        self.tolerance = tolerance
        self.max_retries = max_retries
        self.retry_delay = retry_delay

    @classmethod
    def for_connection(cls, secret_key: str, webhook_secret: str, api_base: str) -> KomojuGateway:
        """The gateway of a payment connection of provider ``komoju``
        (``api_base``: KOMOJU's ``https://.../api/v1``, or the sandbox's)."""
        return cls(api_base=api_base, secret_key=secret_key, webhook_secret=webhook_secret)

    # ------------------------------------------------------------------ transport

    def _request(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        token = base64.b64encode(f"{self.secret_key}:".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        if method == "POST":
            headers["X-KOMOJU-IDEMPOTENCY"] = idempotency_key or f"smspay-{uuid.uuid4()}"
            headers["Content-Type"] = "application/json"
        content = json.dumps(body or {}, ensure_ascii=False).encode() if method == "POST" else None
        attempt = 0
        while True:
            try:
                response = httpx.request(
                    method, f"{self.api_base}{path}", content=content, headers=headers, timeout=self.timeout
                )
            except httpx.TransportError as exc:
                if attempt < self.max_retries:
                    attempt += 1
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise GatewayError(f"gateway unreachable: {type(exc).__name__}", retryable=True) from exc
            retryable = response.status_code >= 500
            if retryable and attempt < self.max_retries:
                attempt += 1
                time.sleep(self.retry_delay * attempt)
                continue
            if response.status_code >= 400:
                raise _error_of(response, retryable=retryable)
            try:
                data: dict[str, Any] = response.json()
            except ValueError as exc:
                raise GatewayError("gateway answered without JSON", status=response.status_code) from exc
            return data

    def check_credentials(self) -> str:
        """A harmless call for "test connection": reads a session that cannot
        exist. ``ok`` (KOMOJU answered 404: the key was accepted),
        ``bad_credentials`` (401/403) or ``unreachable``."""
        try:
            self._request("GET", "/sessions/" + "0" * 25)
        except GatewayError as exc:
            if exc.status == 404:
                return "ok"
            return "bad_credentials" if exc.status in (401, 403) else "unreachable"
        return "ok"

    # ------------------------------------------------------------------ sessions (the hosted page)

    @staticmethod
    def session_body(request: CheckoutRequest) -> dict[str, Any]:
        """The JSON body of ``POST /sessions`` for ``request``."""
        lines = request.lines or ((request.item_name, 1, int(request.amount_yen)),)
        types: list[str] = []
        for method in request.payment_method_types:
            for kind in PAYMENT_TYPES.get(method, (method,)):
                if kind not in types:
                    types.append(kind)
        metadata = {"payment_id": str(request.payment_id), "client_reference_id": request.client_reference_id}
        if request.merchant_name:
            metadata["merchant_name"] = request.merchant_name[:2000]
        return {
            "mode": "payment",
            "amount": int(request.amount_yen),
            "currency": "JPY",
            "return_url": request.success_url,
            "default_locale": request.locale if request.locale in ("ja", "en") else "ja",
            "payment_types": types,
            "line_items": [
                {"description": (name or "-")[:255], "quantity": int(quantity), "amount": int(unit)}
                for name, quantity, unit in lines
            ],
            "metadata": metadata,
            "expires_in_seconds": SESSION_SECONDS,
            "payment_data": {"external_order_num": f"smspay-{request.payment_id}"},
        }

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        data = self._request(
            "POST", "/sessions", body=self.session_body(request), idempotency_key=request.idempotency_key
        )
        try:
            created = unix_of(data.get("created_at")) or int(time.time())
            return CheckoutSession(
                id=str(data["id"]), url=str(data["session_url"]), raw=data, expires_at=created + SESSION_SECONDS
            )
        except (KeyError, TypeError) as exc:
            raise GatewayError("gateway answered without id/session_url") from exc

    def create_customer(self, *, name: str, metadata: dict[str, str], idempotency_key: str | None = None) -> str:
        """KOMOJU's bank transfer needs no customer object: none is made."""
        return ""

    def retrieve_checkout(self, session_id: str) -> dict[str, Any]:
        return self._request("GET", f"/sessions/{session_id}")

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        """Cancel the open session (KOMOJU: ``POST /sessions/{id}/cancel``)."""
        return self._request("POST", f"/sessions/{session_id}/cancel", idempotency_key=f"smspay-cancel-{session_id}")

    def retrieve_payment(self, payment_id: str) -> dict[str, Any]:
        return self._request("GET", f"/payments/{payment_id}")

    # ------------------------------------------------------------------ refunds, direct payments

    def create_refund(
        self, *, payment_intent: str, amount_yen: int, reason: str, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        """Refund ``amount_yen`` of the KOMOJU payment ``payment_intent``;
        answers the new refund (``id``, ``amount``, ``payment``)."""
        body = {"amount": int(amount_yen), "description": reason}
        payment = self._request(
            "POST", f"/payments/{payment_intent}/refund", body=body, idempotency_key=idempotency_key
        )
        refunds = payment.get("refunds") or []
        newest: dict[str, Any] = refunds[-1] if refunds and isinstance(refunds[-1], dict) else {"id": payment.get("id")}
        return newest

    def create_direct_payment(self, request: DirectPaymentRequest) -> DirectPayment:
        kind = DIRECT_TYPES.get(request.method)
        if kind is None:
            raise GatewayError(f"{request.method} cannot be paid without the hosted page", code="unsupported_method")
        details: dict[str, Any] = {"type": kind, "email": request.payer_email}
        if kind == "konbini":
            details["store"] = request.konbini_store or DEFAULT_STORE
        if request.payer_phone:
            details["phone"] = request.payer_phone
        if request.payer_name:
            family, _, given = request.payer_name.replace("\u3000", " ").partition(" ")
            details.update(family_name=family, given_name=given or family)
        if request.expires_after_days:
            details["expiry_days"] = int(request.expires_after_days)
        body: dict[str, Any] = {
            "amount": int(request.amount_yen),
            "currency": "JPY",
            "external_order_num": f"smspay-{request.payment_id}",
            "metadata": {"payment_id": str(request.payment_id), "client_reference_id": request.client_reference_id},
            "payment_details": details,
        }
        if request.locale in ("ja", "en"):
            body["locale"] = request.locale
        data = self._request("POST", "/payments", body=body, idempotency_key=request.idempotency_key)
        outcome = outcome_of(data)
        return DirectPayment(
            id=str(data.get("id") or ""),
            status="processing" if data.get("status") == "authorized" else str(data.get("status") or ""),
            method=outcome.method,
            voucher=outcome.voucher or {},
            expires_at=outcome.expires_at or 0,
            raw=data,
        )

    def payment_details(self, obj: dict[str, Any]) -> PaymentDetails:
        """What a KOMOJU session (with its ``payment``) or payment says: the
        method, the payment id (kept as the payment intent, for refunds) and
        the voucher with its deadline."""
        payment = obj.get("payment") if obj.get("resource") == "session" else obj
        if not isinstance(payment, dict):
            return PaymentDetails()
        outcome = outcome_of(payment)
        return PaymentDetails(
            method=outcome.method,
            payment_intent=outcome.payment_ref,
            next_action=outcome.voucher,
            expires_at=outcome.expires_at,
        )

    # ------------------------------------------------------------------ webhooks

    def parse_webhook(self, payload: bytes, signature_header: str | None, *, now: float | None = None) -> WebhookEvent:
        """Verify ``X-Komoju-Signature`` on the raw body (constant time), then
        parse; an event created more than ``tolerance`` seconds ago (or ahead)
        is refused as a replay. Raises SignatureError."""
        if not signature_header:
            raise SignatureError("missing signature header")
        expected = sign(self.webhook_secret, payload)
        if not hmac.compare_digest(expected.encode(), signature_header.strip().lower().encode()):
            raise SignatureError("signature mismatch")
        try:
            data = json.loads(payload)
            obj = data["data"]
            if not isinstance(obj, dict):
                raise TypeError("data is not a mapping")
            event_id, event_type = str(data["id"]), str(data["type"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError("signed but malformed event") from exc
        created = unix_of(data.get("created_at"))
        current = time.time() if now is None else now
        if not created or abs(current - created) > self.tolerance:
            raise SignatureError("event time outside tolerance")
        kind = EVENT_KINDS.get(event_type)
        outcome = outcome_of(obj, kind) if kind else None
        return WebhookEvent(id=event_id, type=event_type, object=obj, created=created, outcome=outcome)


def outcome_of(payment: dict[str, Any], kind: str | None = None) -> GatewayOutcome:
    """A KOMOJU payment object as our gateway-neutral outcome (``kind`` from
    the event, else from the payment's status)."""
    status = str(payment.get("status") or "")
    if kind is None:
        kind = {
            "captured": "paid",
            "authorized": "processing",
            "failed": "failed",
            "expired": "expired",
            "cancelled": "cancelled",
            "refunded": "refunded",
        }.get(status, "")
    raw_details = payment.get("payment_details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    kind_of_payment = str(details.get("type") or "")
    deadline = unix_of(payment.get("payment_deadline")) or None
    amount = payment.get("amount")
    return GatewayOutcome(
        kind=kind,
        session_id=str(payment.get("session") or payment.get("id") or ""),
        payment_ref=str(payment.get("id") or ""),
        amount=int(amount) if amount is not None else None,
        currency=str(payment.get("currency") or "JPY").lower(),
        method=METHOD_NAMES.get(kind_of_payment, kind_of_payment),
        voucher=voucher_of(payment),
        expires_at=deadline,
        metadata={str(k): str(v) for k, v in (payment.get("metadata") or {}).items()},
    )


def voucher_of(payment: dict[str, Any]) -> dict[str, Any] | None:
    """The numbers a konbini / bank-transfer / Pay-easy payer needs, in the
    shapes ``web.vouchers`` shows; None for other methods."""
    raw_details = payment.get("payment_details")
    d: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    kind = d.get("type")
    deadline = unix_of(payment.get("payment_deadline")) or None
    if kind == "konbini" and d.get("receipt"):
        store = STORE_KEYS.get(str(d.get("store") or ""), str(d.get("store") or ""))
        return {
            "type": "konbini_display_details",
            "konbini_display_details": {
                "expires_at": deadline,
                "hosted_voucher_url": d.get("instructions_url"),
                "stores": {
                    store: {"confirmation_number": d.get("confirmation_code") or "", "payment_code": d.get("receipt")}
                },
            },
        }
    if kind == "bank_transfer" and d.get("account_number"):
        account_type = str(d.get("account_type") or "")
        return {
            "type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {
                "amount_remaining": payment.get("total") or payment.get("amount"),
                "currency": "jpy",
                "financial_addresses": [
                    {
                        "type": "zengin",
                        "zengin": {
                            "account_holder_name": d.get("account_name") or "",
                            "account_number": d.get("account_number") or "",
                            "account_type": "toza" if "当座" in account_type else "futsu",
                            "bank_code": "",
                            "bank_name": d.get("bank_name") or "",
                            "branch_code": "",
                            "branch_name": d.get("account_branch_name") or "",
                        },
                    }
                ],
                "hosted_instructions_url": d.get("instructions_url"),
                "reference": d.get("order_id"),
                "type": "jp_bank_transfer",
            },
        }
    if kind == "pay_easy" and d.get("customer_id"):
        return {
            "type": "pay_easy_display_details",
            "pay_easy_display_details": {
                "bank_id": d.get("bank_id") or "",
                "customer_id": d.get("customer_id") or "",
                "confirmation_id": d.get("confirmation_id") or "",
                "instructions_url": d.get("instructions_url"),
                "expires_at": deadline,
            },
        }
    return None


def _error_of(response: httpx.Response, *, retryable: bool) -> GatewayError:
    err: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
    except ValueError:
        pass
    return GatewayError(
        str(err.get("message") or f"HTTP {response.status_code}"),
        status=response.status_code,
        type="komoju",
        code=str(err.get("code") or ""),
        param=str(err.get("param") or ""),
        request_id=response.headers.get("x-request-id", ""),
        retryable=retryable,
    )
