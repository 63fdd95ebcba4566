"""Stripe Checkout adapter (httpx): create a Checkout Session, redirect to its
``url``, confirm with signed ``checkout.session.*`` webhooks. The built-in
sandbox speaks the same protocol, so this adapter is the code under test."""

from __future__ import annotations

import json
from typing import Any

import httpx

from smspay_app.providers.payments import signature
from smspay_app.providers.payments.base import (
    CheckoutRequest,
    CheckoutSession,
    GatewayError,
    SignatureError,
    WebhookEvent,
)


class StripeCheckoutGateway:
    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        webhook_secret: str,
        name: str = "stripe",
        timeout: float = 15.0,
        tolerance: int = signature.DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.name = name
        self.timeout = timeout
        self.tolerance = tolerance

    @staticmethod
    def checkout_form(request: CheckoutRequest) -> dict[str, str]:
        """The form-encoded body of ``POST /v1/checkout/sessions``."""
        form: list[tuple[str, str]] = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "jpy"),
            ("line_items[0][price_data][unit_amount]", str(int(request.amount_yen))),
            ("line_items[0][price_data][product_data][name]", request.item_name[:250] or "-"),
            ("line_items[0][quantity]", "1"),
            ("success_url", request.success_url),
            ("cancel_url", request.cancel_url),
            ("client_reference_id", request.client_reference_id),
            ("metadata[payment_id]", str(request.payment_id)),
        ]
        for i, method in enumerate(request.payment_method_types):
            form.append((f"payment_method_types[{i}]", method))
        return dict(form)

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        if request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        try:
            response = httpx.post(
                f"{self.api_base}/v1/checkout/sessions",
                data=self.checkout_form(request),
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"gateway unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise GatewayError(f"gateway refused: HTTP {response.status_code}")
        try:
            data = response.json()
            return CheckoutSession(id=str(data["id"]), url=str(data["url"]), raw=data)
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError("gateway answered without id/url") from exc

    def retrieve_checkout(self, session_id: str) -> dict[str, Any]:
        try:
            response = httpx.get(
                f"{self.api_base}/v1/checkout/sessions/{session_id}",
                headers={"Authorization": f"Bearer {self.secret_key}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"gateway unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise GatewayError(f"gateway refused: HTTP {response.status_code}")
        data: dict[str, Any] = response.json()
        return data

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
