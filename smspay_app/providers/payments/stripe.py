"""Stripe adapter (httpx): create a Checkout Session, redirect to its ``url``,
confirm with signed ``checkout.session.*`` webhooks; expire, refund, and read
the payment intent (method used, konbini / bank-transfer voucher). The
built-in sandbox speaks the same protocol, so this adapter is the code under
test; tests/test_stripe_contract.py holds both to the official SDK.

- ``Stripe-Version`` is pinned (``API_VERSION``): field shapes do not change
  under us when the account's default version moves.
- Every POST carries an idempotency key (the caller's, or a fresh one), so a
  5xx answer, a 409 or a dropped connection is retried with the same key
  (Stripe answers the first result again, ``Idempotent-Replayed: true``).
- Errors keep Stripe's explanation: ``GatewayError`` has ``status``, ``type``,
  ``code``, ``param``, ``message`` and ``request_id``."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from smspay_app.providers.payments import signature
from smspay_app.providers.payments.base import (
    CheckoutRequest,
    CheckoutSession,
    DirectPayment,
    DirectPaymentRequest,
    GatewayError,
    PaymentDetails,
    SignatureError,
    WebhookEvent,
)

API_VERSION = "2026-10-28.endive"
_METHOD_NAMES = {"card": "card", "customer_balance": "bank", "konbini": "konbini"}


class StripeCheckoutGateway:
    signature_header = "stripe-signature"  # the request header parse_webhook verifies

    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        webhook_secret: str,
        name: str = "stripe",
        timeout: float = 15.0,
        tolerance: int = signature.DEFAULT_TOLERANCE_SECONDS,
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

    # ------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        data: list[tuple[str, str]] | None = None,
        params: list[tuple[str, str | int | float | bool | None]] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}", "Stripe-Version": API_VERSION}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or f"smspay-{uuid.uuid4()}"
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        attempt = 0
        while True:
            try:
                response = httpx.request(
                    method,
                    f"{self.api_base}{path}",
                    content=_encode(data) if method == "POST" else None,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                )
            except httpx.TransportError as exc:
                if attempt < self.max_retries:
                    attempt += 1
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise GatewayError(f"gateway unreachable: {type(exc).__name__}", retryable=True) from exc
            retry = response.headers.get("stripe-should-retry")
            retryable = response.status_code >= 500 or response.status_code == 409 or retry == "true"
            if retry == "false":
                retryable = False
            if retryable and attempt < self.max_retries:
                attempt += 1
                time.sleep(self.retry_delay * attempt)
                continue
            if response.status_code >= 400:
                raise _error_of(response, retryable=retryable)
            try:
                body: dict[str, Any] = response.json()
            except ValueError as exc:
                raise GatewayError("gateway answered without JSON", status=response.status_code) from exc
            return body

    # ------------------------------------------------------------------ API

    @staticmethod
    def checkout_form(request: CheckoutRequest) -> list[tuple[str, str]]:
        """The form-encoded body of ``POST /v1/checkout/sessions``: JPY line
        items, and for bank transfer what Stripe's Japanese bank-transfer
        guide passes (a customer, ``funding_type=bank_transfer``,
        ``bank_transfer[type]=jp_bank_transfer``)."""
        lines = request.lines or ((request.item_name, 1, int(request.amount_yen)),)
        form: list[tuple[str, str]] = [("mode", "payment")]
        for i, (name, quantity, unit) in enumerate(lines):
            form += [
                (f"line_items[{i}][price_data][currency]", "jpy"),
                (f"line_items[{i}][price_data][unit_amount]", str(int(unit))),
                (f"line_items[{i}][price_data][product_data][name]", (name or "-")[:250]),
                (f"line_items[{i}][quantity]", str(int(quantity))),
            ]
        form += [
            ("success_url", request.success_url),
            ("cancel_url", request.cancel_url),
            ("client_reference_id", request.client_reference_id),
            ("metadata[payment_id]", str(request.payment_id)),
        ]
        for i, method in enumerate(request.payment_method_types):
            form.append((f"payment_method_types[{i}]", method))
        if "customer_balance" in request.payment_method_types:
            form += [
                ("payment_method_options[customer_balance][funding_type]", "bank_transfer"),
                ("payment_method_options[customer_balance][bank_transfer][type]", "jp_bank_transfer"),
            ]
        if "konbini" in request.payment_method_types and request.konbini_expires_after_days:
            form.append(
                ("payment_method_options[konbini][expires_after_days]", str(request.konbini_expires_after_days))
            )
        if request.customer:
            form.append(("customer", request.customer))
        if request.merchant_name:
            form.append(("metadata[merchant_name]", request.merchant_name[:500]))
        if request.locale:
            form.append(("locale", request.locale))
        return form

    def create_customer(self, *, name: str, metadata: dict[str, str], idempotency_key: str | None = None) -> str:
        data = [("name", name[:250] or "-")] + [(f"metadata[{k}]", v) for k, v in metadata.items()]
        return str(self._request("POST", "/v1/customers", data=data, idempotency_key=idempotency_key)["id"])

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        data = self._request(
            "POST", "/v1/checkout/sessions", data=self.checkout_form(request), idempotency_key=request.idempotency_key
        )
        try:
            return CheckoutSession(
                id=str(data["id"]), url=str(data["url"]), raw=data, expires_at=int(data.get("expires_at") or 0)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayError("gateway answered without id/url") from exc

    def retrieve_checkout(self, session_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/checkout/sessions/{session_id}")

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/checkout/sessions/{session_id}/expire", data=[])

    def retrieve_payment_intent(self, payment_intent: str) -> dict[str, Any]:
        return self._request(
            "GET",
            f"/v1/payment_intents/{payment_intent}",
            params=[("expand[]", "payment_method"), ("expand[]", "latest_charge")],
        )

    def create_refund(
        self, *, payment_intent: str, amount_yen: int, reason: str, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]:
        data = [("payment_intent", payment_intent), ("amount", str(int(amount_yen)))]
        if reason in ("duplicate", "fraudulent", "requested_by_customer"):
            data.append(("reason", reason))
        data += [(f"metadata[{k}]", v) for k, v in metadata.items()]
        return self._request("POST", "/v1/refunds", data=data, idempotency_key=idempotency_key)

    @staticmethod
    def direct_payment_form(request: DirectPaymentRequest) -> list[tuple[str, str]]:
        """The body of ``POST /v1/payment_intents`` for the voucher route: a
        PaymentIntent created and confirmed server-side (``confirm=true``),
        as Stripe's direct-API guides for konbini (``payment_method_data`` with
        the billing name and e-mail konbini requires) and for Japanese bank
        transfers (a customer, ``customer_balance`` funded by
        ``jp_bank_transfer``). Stripe has no Pay-easy: ``unsupported_method``."""
        form: list[tuple[str, str]] = [
            ("amount", str(int(request.amount_yen))),
            ("currency", "jpy"),
            ("confirm", "true"),
            ("metadata[payment_id]", str(request.payment_id)),
            ("metadata[client_reference_id]", request.client_reference_id),
        ]
        if request.method == "konbini":
            form += [
                ("payment_method_types[0]", "konbini"),
                ("payment_method_data[type]", "konbini"),
                ("payment_method_data[billing_details][name]", request.payer_name[:250]),
                ("payment_method_data[billing_details][email]", request.payer_email[:250]),
            ]
            if request.payer_phone:
                form.append(("payment_method_data[billing_details][phone]", request.payer_phone[:40]))
            if request.expires_after_days:
                form.append(("payment_method_options[konbini][expires_after_days]", str(request.expires_after_days)))
        elif request.method == "bank_transfer":
            if not request.customer:
                raise GatewayError("a bank transfer needs the gateway's customer", code="parameter_missing")
            form += [
                ("customer", request.customer),
                ("payment_method_types[0]", "customer_balance"),
                ("payment_method_data[type]", "customer_balance"),
                ("payment_method_options[customer_balance][funding_type]", "bank_transfer"),
                ("payment_method_options[customer_balance][bank_transfer][type]", "jp_bank_transfer"),
            ]
        else:
            raise GatewayError(f"{request.method} is not offered by Stripe", code="unsupported_method")
        if request.item_name:
            form.append(("description", request.item_name[:500]))
        if request.merchant_name:
            form.append(("metadata[merchant_name]", request.merchant_name[:500]))
        return form

    def create_direct_payment(self, request: DirectPaymentRequest) -> DirectPayment:
        """Create and confirm the PaymentIntent; its ``next_action``
        (``konbini_display_details`` / ``display_bank_transfer_instructions``)
        is the voucher our own page shows (``web.vouchers``)."""
        data = self._request(
            "POST",
            "/v1/payment_intents",
            data=self.direct_payment_form(request),
            idempotency_key=request.idempotency_key,
        )
        try:
            pi_id = str(data["id"])
        except (KeyError, TypeError) as exc:
            raise GatewayError("gateway answered without an id") from exc
        raw_action = data.get("next_action")
        action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        expires = 0
        if action.get("type") == "konbini_display_details":
            expires = int((action.get("konbini_display_details") or {}).get("expires_at") or 0)
        status = {"succeeded": "succeeded", "canceled": "failed"}.get(str(data.get("status")), "processing")
        if status == "processing" and not action:
            raise GatewayError(f"payment intent {pi_id} has no voucher (status {data.get('status')})")
        return DirectPayment(
            id=pi_id,
            status=status,
            method="konbini" if request.method == "konbini" else "bank",
            voucher=action,
            expires_at=expires,
            raw=data,
        )

    def payment_details(self, obj: dict[str, Any]) -> PaymentDetails:
        """What a ``checkout.session`` object (as live Stripe sends it: the
        payment intent as an id, every offered method in
        ``payment_method_types``) says about the payment: the method used,
        the payment intent, and a voucher (``next_action``) with its deadline."""
        pi: Any = obj.get("payment_intent")
        if isinstance(pi, str) and pi:
            try:
                pi = self.retrieve_payment_intent(pi)
            except GatewayError:
                pi = {"id": pi}
        if not isinstance(pi, dict):
            pi = {}
        method = ""
        pm = pi.get("payment_method")
        charge = pi.get("latest_charge")
        if isinstance(pm, dict) and pm.get("type"):
            method = str(pm["type"])
        elif isinstance(charge, dict) and (charge.get("payment_method_details") or {}).get("type"):
            method = str(charge["payment_method_details"]["type"])
        elif len(pi.get("payment_method_types") or []) == 1:
            method = str(pi["payment_method_types"][0])
        elif len(obj.get("payment_method_types") or []) == 1:
            method = str(obj["payment_method_types"][0])
        action = pi.get("next_action") if isinstance(pi.get("next_action"), dict) else None
        expires_at = None
        if action and action.get("type") == "konbini_display_details":
            expires_at = (action.get("konbini_display_details") or {}).get("expires_at")
        return PaymentDetails(
            method=_METHOD_NAMES.get(method, method),
            payment_intent=str(pi.get("id") or ""),
            next_action=action,
            expires_at=int(expires_at) if expires_at else None,
        )

    def parse_webhook(self, payload: bytes, signature_header: str | None, *, now: float | None = None) -> WebhookEvent:
        signature.verify_header(self.webhook_secret, payload, signature_header, tolerance=self.tolerance, now=now)
        try:
            data = json.loads(payload)
            obj = data["data"]["object"]
            if not isinstance(obj, dict):
                raise TypeError("object is not a mapping")
            return WebhookEvent(id=str(data["id"]), type=str(data["type"]), object=obj, created=data.get("created"))
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureError("signed but malformed event") from exc


def _encode(data: list[tuple[str, str]] | None) -> bytes:
    return urlencode(data or []).encode()


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
        type=str(err.get("type") or ""),
        code=str(err.get("code") or ""),
        param=str(err.get("param") or ""),
        request_id=response.headers.get("request-id", ""),
        retryable=retryable,
    )
