"""Payments: start a hosted checkout for a verified recipient, and record what
the gateway's signed webhooks say (once, in order-independent fashion).

Payment statuses: ``open`` (handed to the gateway) -> ``processing`` (an
asynchronous method such as convenience store is pending) -> ``succeeded``;
or ``failed`` / ``expired``. ``succeeded`` is final: late or repeated events
never move it. Event ids are deduplicated (``WebhookEvent``), and the
recipient's ``paid`` step (with its timeline event) is recorded exactly once.

Never twice: a recipient has at most one live checkout (``open_checkout``
reuses the open one; ``close_other_checkouts`` expires any other through the
gateway); if two payments still succeed (two devices racing), the second is
refunded automatically through the gateway (status ``refunded``, timeline
``payment_refunded``, audit ``payment.duplicate_refund``), and the recipient's
page says so. ``refunded`` payments and ``Payment.refunded_yen`` never move the
funnel back: the recipient stays ``paid``.

Which account: a new checkout goes through ``connections.payment_route`` (the
campaign's pick, the organisation's default, else the environment's), and the
``Payment`` row remembers it (``payment_connection_id``); expiring, refunding
and applying webhooks to an existing payment use that same account
(``connections.gateway_for_payment``, ``connections.payment_belongs``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.models import AuditLog, InvoiceLine, Payment, Recipient, WebhookEvent
from smspay_app.providers.payments.base import (
    CheckoutRequest,
    GatewayError,
    GatewayOutcome,
    PaymentDetails,
    PaymentGateway,
)
from smspay_app.providers.payments.base import WebhookEvent as GatewayEvent
from smspay_app.services import connections, timeline
from smspay_app.services.journey import LinkContext, payment_state
from smspay_app.services.links import link_url

log = logging.getLogger(__name__)

FINAL = ("succeeded", "manual", "refunded")
_METHOD_NAMES = {"card": "card", "customer_balance": "bank", "bank": "bank", "konbini": "konbini"}
KONBINI_MIN_YEN, KONBINI_MAX_YEN = 120, 300_000  # Stripe's konbini limits
REUSE_MARGIN = timedelta(minutes=5)  # an open checkout this close to its expiry is not handed out again


def payment_methods_for(amount_yen: int) -> tuple[str, ...]:
    """The methods offered for ``amount_yen`` (Stripe names): card and bank
    transfer always, konbini within ¥120 to ¥300,000."""
    methods = ["card", "customer_balance"]
    if KONBINI_MIN_YEN <= amount_yen <= KONBINI_MAX_YEN:
        methods.append("konbini")
    return tuple(methods)


def _from_unix(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(ts), UTC).replace(tzinfo=None) if ts else None


def live_checkout(session: Session, recipient_id: int, amount_yen: int) -> Payment | None:
    """The recipient's open checkout that can be handed out again: created at
    the gateway, same amount, not about to expire."""
    now = utcnow()
    for p in session.exec(
        select(Payment)
        .where(Payment.recipient_id == recipient_id, Payment.status == "open", Payment.checkout_url != "")
        .order_by(Payment.id.desc())
    ):
        if p.provider_session_id.startswith("pending-") or p.amount_yen != amount_yen:
            continue
        if p.expires_at is not None and p.expires_at <= now + REUSE_MARGIN:
            continue
        return p
    return None


class PaymentNotAllowed(Refused):
    """Nothing to pay (notice only, zero amount, already paid or processing):
    ``reason`` (also the ``key``) is one of those words."""

    @property
    def reason(self) -> str:
        return self.key


def open_checkout(session: Session, ctx: LinkContext, gateway: PaymentGateway | None = None) -> Payment:
    """Step 1 of a checkout: the ``open`` Payment row for the recipient's amount
    (always from the server), with the account it goes through
    (``connections.payment_route``). The caller commits it before step 2
    (``start_checkout``) calls the gateway, so a webhook can always find it.
    When the recipient already has a live checkout for that amount, that
    payment is returned as it is (``checkout_url`` set: no step 2).
    ``gateway``: the route's adapter when the caller has it already."""
    recipient = ctx.recipient
    amount = payable_amount(session, ctx)
    reusable = live_checkout(session, recipient.id, amount)
    if reusable is not None:
        return reusable  # pressing "pay" again (or on another device) opens the same checkout
    return _new_payment(session, ctx, gateway, amount)


def payable_amount(session: Session, ctx: LinkContext) -> int:
    """What the recipient can pay now, or PaymentNotAllowed (notice only,
    already paid or processing, nothing left); lapsed vouchers expire."""
    campaign, recipient = ctx.campaign, ctx.recipient
    if not campaign.payment_enabled:
        raise PaymentNotAllowed("notice_only")
    state, _ = payment_state(session, ctx)
    if state in ("paid", "processing"):
        raise PaymentNotAllowed(state)
    # Less any partial payment recorded outside the system (issue 18 item 11).
    amount = int(recipient.amount_yen or 0) - int(recipient.partial_paid_yen or 0)
    if amount <= 0:
        raise PaymentNotAllowed("no_amount")
    _expire_lapsed_vouchers(session, recipient.id)
    return amount


def _new_payment(session: Session, ctx: LinkContext, gateway: PaymentGateway | None, amount: int) -> Payment:
    campaign, recipient = ctx.campaign, ctx.recipient
    now = utcnow()
    route = connections.payment_route(session, campaign, recipient.organisation_id)
    payment = Payment(
        organisation_id=recipient.organisation_id,
        campaign_id=campaign.id,
        recipient_id=recipient.id,
        amount_yen=amount,
        provider=gateway.name if gateway is not None else route.provider,
        payment_connection_id=route.connection_id,
        provider_session_id=f"pending-{ctx.link.id}-{now.timestamp():.6f}-{id(session)}",
        status="open",
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def _expire_lapsed_vouchers(session: Session, recipient_id: int) -> None:
    """Vouchers past their deadline with no word from the gateway: expired
    (``journey.payment_state`` already treats them so)."""
    now = utcnow()
    for p in session.exec(
        select(Payment).where(
            Payment.recipient_id == recipient_id, Payment.status == "processing", Payment.expires_at <= now
        )
    ):
        p.status = "expired"
        _touch(session, p, now, "payment_expired")


def start_checkout(
    session: Session,
    ctx: LinkContext,
    token: str,
    gateway: PaymentGateway | None,
    payment: Payment,
    lang: str = "",
) -> Payment:
    """Step 2: create the gateway's checkout session for the committed
    ``payment`` (from ``open_checkout``) and return it with ``checkout_url``
    to redirect to. ``gateway`` None: the payment's own account's. Flushes;
    the caller commits."""
    campaign, recipient = ctx.campaign, ctx.recipient
    if gateway is None:
        gateway = connections.gateway_for_payment(session, payment)
    amount = payment.amount_yen
    base = link_url(token)
    methods = payment_methods_for(amount)
    customer = _customer_for(session, recipient, gateway, payment) if "customer_balance" in methods else None
    checkout = gateway.create_checkout(
        CheckoutRequest(
            amount_yen=amount,
            item_name=campaign.page_title or campaign.name,
            success_url=f"{base}/done",
            cancel_url=f"{base}/cancelled",
            client_reference_id=f"r{recipient.id}",
            payment_id=payment.id,
            payment_method_types=methods,
            idempotency_key=f"smspay-payment-{payment.id}",
            lines=tuple(invoice_lines_for(session, recipient)) if amount == recipient.amount_yen else (),
            customer=customer,
            merchant_name=ctx.organisation.name,  # as on the invoice (its issuer)
            locale=lang or campaign.recipient_language,
        )
    )
    payment.provider_session_id = checkout.id
    payment.checkout_url = checkout.url
    payment.provider_customer_id = customer or ""
    payment.expires_at = _from_unix(checkout.expires_at)
    payment.updated_at = utcnow()
    session.add(payment)
    timeline.record(session, recipient, "checkout_started", detail={"payment_id": payment.id, "amount_yen": amount})
    session.flush()
    return payment


# ---------------------------------------------------------------- voucher route (issue 14)

# Asked of the payer per method (only what the gateway requires: Stripe's
# konbini needs a name and an e-mail address; its bank transfer nothing).
DIRECT_FIELDS: dict[str, tuple[str, ...]] = {"konbini": ("name", "email"), "bank_transfer": ()}


def direct_methods_for(amount_yen: int) -> tuple[str, ...]:
    """Methods of the voucher route for ``amount_yen``: konbini within its
    limits, bank transfer always."""
    methods = []
    if KONBINI_MIN_YEN <= amount_yen <= KONBINI_MAX_YEN:
        methods.append("konbini")
    methods.append("bank_transfer")
    return tuple(methods)


def open_direct_payment(session: Session, ctx: LinkContext, gateway: PaymentGateway | None = None) -> Payment:
    """Step 1 of the voucher route (feature phones, or anyone who picks it):
    the ``open`` Payment row; the caller commits before step 2."""
    return _new_payment(session, ctx, gateway, payable_amount(session, ctx))


def start_direct_payment(
    session: Session,
    ctx: LinkContext,
    gateway: PaymentGateway,
    payment: Payment,
    *,
    method: str,
    payer_name: str = "",
    payer_email: str = "",
    payer_phone: str = "",
    lang: str = "",
) -> Payment:
    """Step 2: the payment created server-side through the gateway's API
    (``create_direct_payment``) for the committed ``payment``; it comes back
    ``processing`` with the voucher (``voucher_json``, ``expires_at``) that
    the recipient's own page shows. The payer's name and e-mail go to the
    gateway only, never into our database. Flushes; the caller commits."""
    from smspay_app.providers.payments.base import DirectPaymentRequest

    campaign, recipient = ctx.campaign, ctx.recipient
    customer = _customer_for(session, recipient, gateway, payment) if method == "bank_transfer" else ""
    direct = gateway.create_direct_payment(
        DirectPaymentRequest(
            amount_yen=payment.amount_yen,
            method=method,
            payment_id=int(payment.id or 0),
            client_reference_id=f"r{recipient.id}",
            idempotency_key=f"smspay-direct-{payment.id}",
            item_name=campaign.page_title or campaign.name,
            payer_name=payer_name,
            payer_email=payer_email,
            payer_phone=payer_phone,
            merchant_name=ctx.organisation.name,
            locale=lang or campaign.recipient_language,
            customer=customer,
        )
    )
    now = utcnow()
    payment.provider_session_id = direct.id
    payment.provider_payment_intent = direct.id
    payment.provider_customer_id = customer
    payment.method = direct.method
    payment.voucher_json = json.dumps(direct.voucher, ensure_ascii=False) if direct.voucher else ""
    payment.expires_at = _from_unix(direct.expires_at)
    timeline.record(
        session, recipient, "checkout_started", detail={"payment_id": payment.id, "amount_yen": payment.amount_yen}
    )
    if direct.status == "succeeded":
        _mark_paid(session, payment, direct.method, now, gateway)
    else:
        payment.status = "processing"
        _touch(session, payment, now, "payment_processing")
    # a hosted checkout opened earlier is closed: one way to pay at a time
    for other in session.exec(
        select(Payment).where(
            Payment.recipient_id == recipient.id,
            Payment.status == "open",
            Payment.id != payment.id,
            Payment.checkout_url != "",
        )
    ):
        if not other.provider_session_id.startswith("pending-"):
            _expire(session, gateway, other)
    session.flush()
    return payment


def _customer_for(session: Session, recipient: Recipient, gateway: PaymentGateway, payment: Payment) -> str:
    """The gateway's customer for ``recipient`` (bank transfer needs one):
    the one an earlier payment used, or a new one (no personal data)."""
    # a customer belongs to one account: only an earlier payment's through the
    # same connection is reused
    known = next(
        (
            p.provider_customer_id
            for p in session.exec(
                select(Payment)
                .where(Payment.recipient_id == recipient.id, Payment.provider_customer_id != "")
                .order_by(Payment.id.desc())
            )
            if p.payment_connection_id == payment.payment_connection_id
        ),
        "",
    )
    if known:
        return known
    return gateway.create_customer(
        name=recipient.external_ref or f"recipient {recipient.id}",
        metadata={"recipient_id": str(recipient.id), "organisation_id": str(recipient.organisation_id)},
        idempotency_key=f"smspay-customer-r{recipient.id}"
        + (f"-c{payment.payment_connection_id}" if payment.payment_connection_id else ""),
    )


def invoice_lines_for(session: Session, recipient: Recipient) -> list[tuple[str, int, int]]:
    """The invoice lines shown to ``recipient`` (item, quantity, unit price),
    which always add up to the amount charged: the recipient's own lines (CSV
    or API), else the campaign's lines when they add up to the recipient's
    amount, else none (the total alone)."""
    if recipient.invoice_lines_json:
        try:
            own = [(str(i), int(q), int(u)) for i, q, u in json.loads(recipient.invoice_lines_json)]
        except (ValueError, TypeError):
            own = []
        if own and sum(q * u for _, q, u in own) == recipient.amount_yen:
            return own
    lines = [
        (line.item, line.quantity, line.unit_price_yen)
        for line in session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.campaign_id == recipient.campaign_id)
            .order_by(InvoiceLine.position, InvoiceLine.id)
        )
    ]
    if lines and sum(q * u for _, q, u in lines) == recipient.amount_yen:
        return lines
    return []


def close_other_checkouts(session: Session, gateway: PaymentGateway | None, payment: Payment) -> Payment:
    """At most one live checkout per recipient: expire (through the gateway
    each was created at: ``gateway`` for ``payment``'s own account, None: look
    it up) every other open checkout of ``payment``'s recipient created before it.
    If a newer one exists (two presses racing), ``payment`` itself is expired
    and the newer one returned. A checkout the gateway will not expire (it
    was just completed) is left to its webhook. Flushes; the caller commits."""
    others = list(
        session.exec(
            select(Payment).where(
                Payment.recipient_id == payment.recipient_id, Payment.status == "open", Payment.id != payment.id
            )
        )
    )
    own = gateway or connections.gateway_for_payment(session, payment)

    def gateway_of(p: Payment) -> PaymentGateway:
        if p.payment_connection_id == payment.payment_connection_id:
            return own
        return connections.gateway_for_payment(session, p)

    newer = [p for p in others if p.id > payment.id and p.checkout_url]
    if newer:
        _expire(session, own, payment)
        return max(newer, key=lambda p: p.id)
    for other in others:
        if not other.provider_session_id.startswith("pending-"):
            _expire(session, gateway_of(other), other)
    session.flush()
    return payment


def _expire(session: Session, gateway: PaymentGateway, payment: Payment) -> None:
    try:
        gateway.expire_checkout(payment.provider_session_id)
    except GatewayError as exc:
        log.info("checkout %s not expired: %s", payment.id, exc)
        return
    payment.status = "expired"
    _touch(session, payment, utcnow(), "payment_expired")


def returned_from_gateway(session: Session, ctx: LinkContext, session_id: str) -> None:
    """The payer came back from a gateway that names its session on the
    return URL whether they paid or gave up (KOMOJU: ``?session_id=``; it
    sends no event for a cancelled session): the recipient's open checkout
    with that session is expired when the gateway says it was cancelled or
    has expired, so the person may start again. Anything else is left to the
    webhooks. Asks the account the checkout was made through
    (``connections.gateway_for_payment``). Flushes; the caller commits."""
    payment = session.exec(
        select(Payment).where(
            Payment.recipient_id == ctx.recipient.id,
            Payment.provider_session_id == session_id,
            Payment.status == "open",
        )
    ).first()
    if payment is None or not session_id:
        return
    try:
        raw = connections.gateway_for_payment(session, payment).retrieve_checkout(session_id)
    except GatewayError as exc:
        log.info("checkout %s not read on return: %s", payment.id, exc)
        return
    if raw.get("status") in ("cancelled", "expired") or (raw.get("status") == "pending" and raw.get("expired") is True):
        payment.status = "expired"
        _touch(session, payment, utcnow(), "payment_expired")
        session.flush()


@dataclass
class WebhookOutcome:
    result: str  # applied | duplicate | ignored | unknown_payment | mismatch
    payment_id: int | None = None


def _method_of(obj: dict, details: PaymentDetails | None) -> str:
    if details is not None and details.method:
        return details.method
    types = obj.get("payment_method_types") or []
    if len(types) == 1:
        return _METHOD_NAMES.get(str(types[0]), str(types[0]))
    return ""


def handle_event(
    session: Session,
    event: GatewayEvent,
    *,
    source: str = "stripe",
    gateway: PaymentGateway | None = None,
    details: PaymentDetails | None = None,
    route: connections.PaymentSpec | None = None,
) -> WebhookOutcome:
    """Apply one verified gateway event. ``route``: the account the event was
    verified for; only payments made through it are touched
    (``connections.payment_belongs``: another organisation's or account's
    payment is ``unknown_payment``, unchanged). Idempotent: a repeated event id changes
    nothing; a second success for the same payment records nothing new; a
    success for a recipient already paid by another payment is refunded
    through ``gateway``. ``details`` (``gateway.payment_details``) carry the
    method, payment intent and voucher as live Stripe gives them.
    Flushes; the webhook route commits."""
    handled_types = (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        # a payment created without a checkout (the voucher route, issue 14)
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    )
    session.add(WebhookEvent(source=source, event_id=event.id, received_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return WebhookOutcome("duplicate")
    if event.outcome is not None:  # a gateway speaking the neutral vocabulary (KOMOJU)
        return _apply_outcome(session, event, event.outcome, gateway, route)
    if event.type not in handled_types:
        session.flush()
        return WebhookOutcome("ignored")

    obj = event.object
    payment = _payment_for(
        session, str(obj.get("id", "")), str((obj.get("metadata") or {}).get("payment_id", "")), route=route
    )
    if payment is None:
        log.warning("webhook %s for an unknown checkout session", event.id)
        session.flush()
        return WebhookOutcome("unknown_payment")

    amount = obj.get("amount_total") if obj.get("object") != "payment_intent" else obj.get("amount")
    currency = str(obj.get("currency", "jpy")).lower()
    if amount is not None and (int(amount) != payment.amount_yen or currency != payment.currency):
        recipient = session.get(Recipient, payment.recipient_id)
        timeline.record(session, recipient, "payment_mismatch", detail={"payment_id": payment.id, "event": event.type})
        session.flush()
        return WebhookOutcome("mismatch", payment.id)

    now = utcnow()
    method = _method_of(obj, details) or payment.method
    if details is not None:
        _keep_details(payment, details)
    paid_now = (
        obj.get("payment_status") == "paid"
        and event.type in ("checkout.session.completed", "checkout.session.async_payment_succeeded")
    ) or (event.type == "payment_intent.succeeded" and obj.get("status") == "succeeded")
    if payment.status in FINAL:
        session.flush()
        return WebhookOutcome("applied", payment.id)
    if paid_now:
        _mark_paid(session, payment, method, now, gateway)
    elif event.type == "checkout.session.completed":
        payment.status = "processing"  # async method: waiting for the store / bank
        payment.method = method
        if not payment.voucher_json:
            payment.expires_at = None  # the checkout's expiry no longer applies
        _touch(session, payment, now, "payment_processing")
    elif event.type in ("payment_intent.payment_failed", "payment_intent.canceled"):
        konbini = (method or payment.method) == "konbini"
        payment.status = "expired" if konbini else "failed"  # a konbini voucher fails by expiring unpaid
        payment.method = method
        _touch(session, payment, now, "payment_expired" if konbini else "payment_failed")
    elif event.type == "checkout.session.async_payment_failed" and (method or payment.method) == "konbini":
        payment.status = "expired"  # a konbini payment fails when its voucher expires unpaid
        payment.method = method
        _touch(session, payment, now, "payment_expired")
    elif event.type == "checkout.session.async_payment_failed":
        payment.status = "failed"
        payment.method = method
        _touch(session, payment, now, "payment_failed")
    elif event.type == "checkout.session.expired" and payment.status in ("open", "processing"):
        payment.status = "expired"
        _touch(session, payment, now, "payment_expired")
    session.flush()
    return WebhookOutcome("applied", payment.id)


def _payment_for(
    session: Session, ident: str, meta_id: str, also: str = "", *, route: connections.PaymentSpec | None = None
) -> Payment | None:
    """The payment an event is about: by the gateway's session id (or, for a
    payment created without a session, ``also``: the gateway's payment id),
    else by our ``payment_id`` in its metadata when the gateway's answer was
    lost before we stored its id. With ``route`` (the account the event was
    verified for) only a payment made through that account is found."""

    def ours(p: Payment | None) -> bool:
        return p is not None and (route is None or connections.payment_belongs(session, p, route))

    payment = session.exec(select(Payment).where(Payment.provider_session_id == ident)).first()
    if payment is None and also and also != ident:
        payment = session.exec(
            select(Payment).where((Payment.provider_session_id == also) | (Payment.provider_payment_intent == also))
        ).first()
    if payment is not None:
        return payment if ours(payment) else None
    if meta_id.isdigit():
        candidate = session.get(Payment, int(meta_id))
        # the gateway's answer may have been lost before we stored its id
        if candidate is not None and ours(candidate) and candidate.provider_session_id.startswith("pending-"):
            candidate.provider_session_id = ident
            return candidate
    return None


def _apply_outcome(
    session: Session,
    event: GatewayEvent,
    outcome: GatewayOutcome,
    gateway: PaymentGateway | None,
    route: connections.PaymentSpec | None = None,
) -> WebhookOutcome:
    """``handle_event`` for a gateway-neutral outcome (paid / processing /
    failed / expired / cancelled; refunds are recorded by whoever asked for
    them, so ``refunded`` changes nothing). Same rules as Stripe's events:
    amounts must match, ``succeeded`` is final, one ``paid`` step."""
    if outcome.kind not in ("paid", "processing", "failed", "expired", "cancelled"):
        session.flush()
        return WebhookOutcome("ignored")
    payment = _payment_for(
        session, outcome.session_id, outcome.metadata.get("payment_id", ""), also=outcome.payment_ref, route=route
    )
    if payment is None:
        log.warning("webhook %s for an unknown payment", event.id)
        session.flush()
        return WebhookOutcome("unknown_payment")
    if outcome.amount is not None and (
        int(outcome.amount) != payment.amount_yen or outcome.currency.lower() != payment.currency
    ):
        recipient = session.get(Recipient, payment.recipient_id)
        timeline.record(session, recipient, "payment_mismatch", detail={"payment_id": payment.id, "event": event.type})
        session.flush()
        return WebhookOutcome("mismatch", payment.id)
    now = utcnow()
    method = outcome.method or payment.method
    _keep_details(
        payment,
        PaymentDetails(
            method=method,
            payment_intent=outcome.payment_ref,
            next_action=outcome.voucher,
            expires_at=outcome.expires_at,
        ),
    )
    if payment.status in FINAL:
        session.flush()
        return WebhookOutcome("applied", payment.id)
    if outcome.kind == "paid":
        _mark_paid(session, payment, method, now, gateway)
    elif outcome.kind == "processing":
        payment.status = "processing"  # a voucher: waiting for the store / bank
        payment.method = method
        if not payment.voucher_json:
            payment.expires_at = None
        _touch(session, payment, now, "payment_processing")
    elif outcome.kind == "failed":
        payment.status = "failed"
        payment.method = method
        _touch(session, payment, now, "payment_failed")
    elif payment.status in ("open", "processing"):  # expired / cancelled: the person may start again
        payment.status = "expired"
        _touch(session, payment, now, "payment_expired")
    session.flush()
    return WebhookOutcome("applied", payment.id)


def _touch(session: Session, payment: Payment, now, kind: str) -> None:
    payment.updated_at = now
    session.add(payment)
    recipient = session.get(Recipient, payment.recipient_id)
    timeline.record(session, recipient, kind, at=now, detail={"payment_id": payment.id, "method": payment.method})


def _keep_details(payment: Payment, details: PaymentDetails) -> None:
    if details.payment_intent:
        payment.provider_payment_intent = details.payment_intent
    if details.next_action is not None:
        payment.voucher_json = json.dumps(details.next_action, ensure_ascii=False)
        # the voucher's deadline (konbini); a bank transfer's instructions have none
        payment.expires_at = _from_unix(details.expires_at)


def refunds_for(session: Session, recipient_id: int) -> list[Payment]:
    """The recipient's payments with money given back (duplicates refunded
    automatically, support refunds), oldest first: for their page."""
    return list(
        session.exec(
            select(Payment).where(Payment.recipient_id == recipient_id, Payment.refunded_yen > 0).order_by(Payment.id)
        )
    )


def voucher(payment: Payment | None) -> dict | None:
    """The stored ``next_action`` of a konbini / bank-transfer payment."""
    if payment is None or not payment.voucher_json:
        return None
    try:
        data = json.loads(payment.voucher_json)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _mark_paid(session: Session, payment: Payment, method: str, now, gateway: PaymentGateway | None) -> None:
    # Conditional update: two racing success events record one payment.
    claimed = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status.not_in(FINAL))
        .values(status="succeeded", method=method, paid_at=now, updated_at=now)
    )
    session.refresh(payment)
    if claimed.rowcount != 1:
        return
    recipient = session.get(Recipient, payment.recipient_id)
    earlier = session.exec(
        select(Payment).where(
            Payment.recipient_id == payment.recipient_id,
            Payment.id != payment.id,
            Payment.status.in_(("succeeded", "manual")),
        )
    ).first()
    if earlier is not None:
        _refund_duplicate(session, recipient, payment, earlier, gateway, now)
        return
    already = recipient.paid_at is not None
    timeline.record(
        session,
        recipient,
        "paid",
        step="paid",
        at=now,
        detail={"payment_id": payment.id, "amount_yen": payment.amount_yen, "method": method, "repeat": already},
    )


def _refund_duplicate(
    session: Session,
    recipient: Recipient,
    payment: Payment,
    earlier: Payment,
    gateway: PaymentGateway | None,
    now: datetime,
) -> None:
    """A second success for one recipient: refund it in full through the
    gateway, and tell the operator (timeline + audit). If the gateway refuses,
    the payment stays ``succeeded`` with a ``payment_duplicate`` event for a
    person to refund (``actions.refund_payment``)."""
    detail: dict = {"payment_id": payment.id, "amount_yen": payment.amount_yen, "first_payment_id": earlier.id}
    refund_id, error = "", ""
    if gateway is None:
        try:
            gateway = connections.gateway_for_payment(session, payment)
        except GatewayError:
            gateway = None
    if gateway is not None and payment.provider_payment_intent:
        try:
            refund = gateway.create_refund(
                payment_intent=payment.provider_payment_intent,
                amount_yen=payment.amount_yen,
                reason="duplicate",
                metadata={"payment_id": str(payment.id), "duplicate_of": str(earlier.id)},
                idempotency_key=f"smspay-duplicate-refund-{payment.id}",
            )
            refund_id = str(refund.get("id", ""))
        except GatewayError as exc:
            error = exc.code or exc.message
    else:
        error = "no_payment_intent"
    if refund_id:
        payment.status = "refunded"
        payment.refunded_yen = payment.amount_yen
        payment.updated_at = now
        session.add(payment)
        detail.update(refund_id=refund_id, automatic=True)
        kind = "payment_refunded"
    else:
        detail.update(error=error)
        kind = "payment_duplicate"
    session.add(
        AuditLog(
            organisation_id=recipient.organisation_id,
            user_id=None,
            action="payment.duplicate_refund" if refund_id else "payment.duplicate",
            target_type="recipient",
            target_id=recipient.id,
            reason="duplicate payment",
            detail=json.dumps({"actor": "system", **detail}, ensure_ascii=False),
            at=now,
        )
    )
    timeline.record(session, recipient, kind, at=now, detail=detail)


VOUCHER_SMS_MAX = 3  # voucher SMS per payment, on the recipient's request


def voucher_deadline(payment: Payment, lang: str, timezone: str | None, due_date=None) -> str:
    """By when to pay a voucher, as people read it: the gateway's deadline
    (konbini, Pay-easy) in the organisation's zone, else the invoice's due
    date (a Stripe bank transfer has no deadline of its own); '' for neither."""
    from smspay_app.domain.formatting import people_date, people_datetime

    return people_datetime(payment.expires_at, lang, timezone) or people_date(due_date, lang)


def voucher_sms_text(organisation, payment: Payment, lang: str, due_date=None) -> str | None:
    """The voucher as an SMS (sender prefix, amount, deadline in the
    organisation's zone, store numbers or bank account, the voucher link)."""
    from smspay_app.domain.formatting import yen
    from smspay_app.i18n import t
    from smspay_app.services.sms_message import sender_prefix

    action = voucher(payment)
    if action is None:
        return None
    prefix = sender_prefix(organisation)
    deadline = voucher_deadline(payment, lang, organisation.timezone if organisation else None, due_date)
    lines: list[str] = []
    if action.get("type") == "konbini_display_details":
        details = action.get("konbini_display_details") or {}
        lines.append(t("recipient.voucher_sms_konbini", lang, prefix=prefix, amount=yen(payment.amount_yen)))
        if deadline:
            lines.append(t("recipient.voucher_deadline", lang, date=deadline))
        for store, numbers in (details.get("stores") or {}).items():
            if isinstance(numbers, dict):
                lines.append(
                    t(
                        "recipient.voucher_sms_store",
                        lang,
                        store=t(f"recipient.store_{store}", lang),
                        confirmation=numbers.get("confirmation_number", ""),
                        code=numbers.get("payment_code", ""),
                    )
                )
        url = str(details.get("hosted_voucher_url") or "")
    elif action.get("type") == "display_bank_transfer_instructions":
        instr = action.get("display_bank_transfer_instructions") or {}
        z = ((instr.get("financial_addresses") or [{}])[0] or {}).get("zengin") or {}
        lines.append(t("recipient.voucher_sms_bank", lang, prefix=prefix, amount=yen(payment.amount_yen)))
        lines.append(
            f"{z.get('bank_name', '')}({z.get('bank_code', '')}) {z.get('branch_name', '')}({z.get('branch_code', '')}) "
            f"{t('recipient.account_' + str(z.get('account_type', 'futsu')), lang)} {z.get('account_number', '')} "
            f"{z.get('account_holder_name', '')}"
        )
        if deadline:
            lines.append(t("recipient.voucher_deadline", lang, date=deadline))
        url = str(instr.get("hosted_instructions_url") or "")
    elif action.get("type") == "pay_easy_display_details":
        pe = action.get("pay_easy_display_details") or {}
        lines.append(
            t(
                "recipient.voucher_sms_payeasy",
                lang,
                prefix=prefix,
                amount=yen(payment.amount_yen),
                bank=pe.get("bank_id", ""),
                customer=pe.get("customer_id", ""),
                confirmation=pe.get("confirmation_id", ""),
            )
        )
        if deadline:
            lines.append(t("recipient.voucher_deadline", lang, date=deadline))
        url = str(pe.get("instructions_url") or "")
    else:
        return None
    if url:
        lines.append(url)
    return "\n".join(lines)


def send_voucher_sms(session: Session, ctx: LinkContext, payment: Payment, lang: str, *, send=None) -> str:
    """Send the voucher by SMS to the recipient, at most ``VOUCHER_SMS_MAX``
    times per payment: ``sent``, ``cap``, ``none`` (no voucher) or
    ``failed``. Timeline ``voucher_sms_sent``. Flushes; the caller commits."""
    from smspay_app.models import TimelineEvent
    from smspay_app.services import invoices, journey

    text = voucher_sms_text(ctx.organisation, payment, lang, invoices.due_date(ctx.recipient, ctx.campaign))
    if text is None or payment.status != "processing":
        return "none"
    sent_before = [
        e
        for e in session.exec(
            select(TimelineEvent).where(
                TimelineEvent.recipient_id == ctx.recipient.id, TimelineEvent.kind == "voucher_sms_sent"
            )
        )
        if json.loads(e.detail or "{}").get("payment_id") == payment.id
    ]
    if len(sent_before) >= VOUCHER_SMS_MAX:
        return "cap"
    try:
        (send or journey.send_otp_sms)(ctx.recipient, text)
    except Exception as exc:  # the provider failed
        log.warning("voucher SMS for payment %s failed: %s", payment.id, type(exc).__name__)
        return "failed"
    timeline.record(session, ctx.recipient, "voucher_sms_sent", detail={"payment_id": payment.id})
    session.flush()
    return "sent"
