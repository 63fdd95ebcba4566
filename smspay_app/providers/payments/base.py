"""The payment gateway interface (adapters are built in one place:
``services.connections.build_payment_gateway``).

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
    "DirectPayment",
    "DirectPaymentRequest",
    "GatewayError",
    "GatewayOutcome",
    "PaymentDetails",
    "PaymentGateway",
    "SignatureError",
    "WebhookEvent",
]


class GatewayError(RuntimeError):
    """The gateway refused or could not be reached, with the gateway's own
    explanation (Stripe's error object: ``type``, ``code``, ``param``,
    ``message``) and its ``request_id``; ``status`` 0 when unreachable."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        type: str = "",
        code: str = "",
        param: str = "",
        request_id: str = "",
        retryable: bool = False,
    ) -> None:
        self.message, self.status, self.type, self.code, self.param = message, status, type, code, param
        self.request_id, self.retryable = request_id, retryable
        parts = [f"HTTP {status}" if status else "", type, code, f"param={param}" if param else ""]
        prefix = " ".join(p for p in parts if p)
        super().__init__(f"gateway refused ({prefix}): {message}" if status else message)


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
    # (name, quantity, unit price in yen); empty: one line of amount_yen
    lines: tuple[tuple[str, int, int], ...] = ()
    customer: str | None = None  # the gateway's customer (bank transfer needs one)
    konbini_expires_after_days: int | None = None
    merchant_name: str = ""  # who is paid (the organisation): metadata[merchant_name]
    locale: str = ""  # the checkout's language (ja / en): Stripe's locale


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    raw: dict[str, Any] = field(default_factory=dict)
    expires_at: int = 0  # unix time; 0 when the gateway did not say


@dataclass(frozen=True)
class PaymentDetails:
    """What a checkout object says about the payment: the method used (card,
    bank, konbini, or '' when not known yet), the gateway's payment intent,
    and the voucher (Stripe's ``next_action``) with its deadline."""

    method: str = ""
    payment_intent: str = ""
    next_action: dict[str, Any] | None = None
    expires_at: int | None = None


@dataclass(frozen=True)
class DirectPaymentRequest:
    """A payment created server-side, without the gateway's hosted page: the
    voucher route for browsers that cannot run it (feature phones, issue 14).
    ``method``: ``konbini``, ``pay_easy`` or ``bank_transfer``; the gateway
    answers with the numbers the payer takes to the store, ATM or bank.
    Only what the gateway requires of the payer is asked (name, e-mail, phone).
    ``konbini_store``: the store chain a konbini payer chose (KOMOJU requires
    one: ``lawson``, ``family-mart``, ``seven-eleven``...); empty lets the
    adapter pick its default."""

    amount_yen: int
    method: str
    payment_id: int
    client_reference_id: str
    idempotency_key: str
    item_name: str = ""
    payer_name: str = ""
    payer_email: str = ""
    payer_phone: str = ""
    merchant_name: str = ""
    expires_after_days: int | None = None
    locale: str = ""
    konbini_store: str = ""
    customer: str = ""  # the gateway's customer (Stripe's bank transfer needs one)


@dataclass(frozen=True)
class DirectPayment:
    """The gateway's answer to a ``DirectPaymentRequest``: its payment id, our
    status vocabulary (``processing`` while the payer has not paid), the
    voucher to show on our own page (numbers, store/bank, amount, instructions
    URL; see ``services.payments.voucher``) and its deadline (unix time)."""

    id: str
    status: str
    method: str
    voucher: dict[str, Any] = field(default_factory=dict)
    expires_at: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayOutcome:
    """What a gateway's event means, in our words, for gateways whose events
    are not Stripe's ``checkout.session.*`` (KOMOJU's ``payment.*``):
    ``kind`` is ``paid``, ``processing`` (a voucher was issued: waiting for
    the store / bank), ``failed``, ``expired``, ``cancelled`` or
    ``refunded``; ``session_id`` is what ``Payment.provider_session_id``
    holds (the hosted session, or the payment itself for a direct one);
    ``payment_ref`` the gateway's payment (kept for refunds); ``voucher`` in
    the shapes ``web.vouchers`` shows, ``expires_at`` its deadline (unix)."""

    kind: str
    session_id: str
    payment_ref: str = ""
    amount: int | None = None
    currency: str = "jpy"
    method: str = ""
    voucher: dict[str, Any] | None = None
    expires_at: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    object: dict[str, Any]
    created: int | None = None
    # set by adapters whose events services.payments.handle_event reads
    # through the neutral vocabulary (None: a Stripe checkout.session event)
    outcome: GatewayOutcome | None = None


class PaymentGateway(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    def create_customer(self, *, name: str, metadata: dict[str, str], idempotency_key: str | None = None) -> str: ...

    def retrieve_checkout(self, session_id: str) -> dict[str, Any]: ...

    def expire_checkout(self, session_id: str) -> dict[str, Any]: ...

    def create_refund(
        self, *, payment_intent: str, amount_yen: int, reason: str, metadata: dict[str, str], idempotency_key: str
    ) -> dict[str, Any]: ...

    def payment_details(self, obj: dict[str, Any]) -> PaymentDetails: ...

    def create_direct_payment(self, request: DirectPaymentRequest) -> DirectPayment:
        """Create a konbini / Pay-easy / bank-transfer payment server-side and
        return its voucher. Raises GatewayError (``code`` ``unsupported_method``
        when this gateway has no such method)."""
        ...

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Verify the signature on the raw body, then parse. Raises SignatureError."""
        ...
