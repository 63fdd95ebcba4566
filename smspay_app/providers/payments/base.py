"""The payment gateway interface and the factory that picks one from settings.

Card data never touches this system: a gateway creates a hosted checkout
session, the recipient's browser is redirected to its URL, and the gateway's
signed webhook confirms the outcome. The built-in sandbox speaks the Stripe
Checkout protocol, so the same adapter (``stripe.StripeCheckoutGateway``)
talks to the sandbox by default and to Stripe with real credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from smspay_app.providers.payments.signature import SignatureError

__all__ = [
    "CheckoutRequest",
    "CheckoutSession",
    "GatewayError",
    "PaymentGateway",
    "SignatureError",
    "WebhookEvent",
    "get_payment_gateway",
]


class GatewayError(RuntimeError):
    """The gateway refused or could not be reached."""


@dataclass(frozen=True)
class CheckoutRequest:
    amount_yen: int
    item_name: str
    success_url: str
    cancel_url: str
    client_reference_id: str
    payment_id: int
    # Stripe names: card, customer_balance (bank transfer), konbini.
    payment_method_types: tuple[str, ...] = ("card", "customer_balance", "konbini")
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    object: dict[str, Any]
    created: int | None = None


class PaymentGateway(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Verify the signature on the raw body, then parse. Raises SignatureError."""
        ...


def get_payment_gateway(settings: Any) -> PaymentGateway:
    """The gateway configured by ``settings.payment_provider``: ``sandbox`` (the
    built-in Stripe-compatible service at ``settings.payment_api_base``) or
    ``stripe``; both through the Stripe Checkout adapter."""
    from smspay_app.providers.payments.stripe import StripeCheckoutGateway

    return StripeCheckoutGateway(
        api_base=settings.payment_api_base,
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        name=settings.payment_provider,
    )
