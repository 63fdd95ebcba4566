"""Payments: start a hosted checkout for a verified recipient, and record what
the gateway's signed webhooks say (once, in order-independent fashion).

Payment statuses: ``open`` (handed to the gateway) -> ``processing`` (an
asynchronous method such as convenience store is pending) -> ``succeeded``;
or ``failed`` / ``expired``. ``succeeded`` is final: late or repeated events
never move it. Event ids are deduplicated (``WebhookEvent``), and the
recipient's ``paid`` step (with its timeline event) is recorded exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.models import Payment, Recipient, WebhookEvent
from smspay_app.providers.payments.base import CheckoutRequest, PaymentGateway
from smspay_app.providers.payments.base import WebhookEvent as GatewayEvent
from smspay_app.services import timeline
from smspay_app.services.journey import LinkContext, payment_state
from smspay_app.services.links import link_url

log = logging.getLogger(__name__)

FINAL = ("succeeded", "manual")
_METHOD_NAMES = {"card": "card", "customer_balance": "bank", "bank": "bank", "konbini": "konbini"}


class PaymentNotAllowed(Refused):
    """Nothing to pay (notice only, zero amount, already paid or processing):
    ``reason`` (also the ``key``) is one of those words."""

    @property
    def reason(self) -> str:
        return self.key


def open_checkout(session: Session, ctx: LinkContext, gateway: PaymentGateway) -> Payment:
    """Step 1 of a checkout: the ``open`` Payment row for the recipient's amount
    (always from the server). The caller commits it before step 2
    (``start_checkout``) calls the gateway, so a webhook can always find it."""
    campaign, recipient = ctx.campaign, ctx.recipient
    if not campaign.payment_enabled:
        raise PaymentNotAllowed("notice_only")
    state, _ = payment_state(session, ctx)
    if state in ("paid", "processing"):
        raise PaymentNotAllowed(state)
    amount = int(recipient.amount_yen or 0)
    if amount <= 0:
        raise PaymentNotAllowed("no_amount")
    now = utcnow()
    payment = Payment(
        organisation_id=recipient.organisation_id,
        campaign_id=campaign.id,
        recipient_id=recipient.id,
        amount_yen=amount,
        provider=gateway.name,
        provider_session_id=f"pending-{ctx.link.id}-{now.timestamp():.6f}-{id(session)}",
        status="open",
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def start_checkout(
    session: Session, ctx: LinkContext, token: str, gateway: PaymentGateway, payment: Payment
) -> Payment:
    """Step 2: create the gateway's checkout session for the committed
    ``payment`` (from ``open_checkout``) and return it with ``checkout_url``
    to redirect to. Flushes; the caller commits."""
    campaign, recipient = ctx.campaign, ctx.recipient
    amount = payment.amount_yen
    base = link_url(token)
    checkout = gateway.create_checkout(
        CheckoutRequest(
            amount_yen=amount,
            item_name=campaign.page_title or campaign.name,
            success_url=f"{base}/done",
            cancel_url=f"{base}/cancelled",
            client_reference_id=f"r{recipient.id}",
            payment_id=payment.id,
            idempotency_key=f"smspay-payment-{payment.id}",
        )
    )
    payment.provider_session_id = checkout.id
    payment.checkout_url = checkout.url
    payment.updated_at = utcnow()
    session.add(payment)
    timeline.record(session, recipient, "checkout_started", detail={"payment_id": payment.id, "amount_yen": amount})
    session.flush()
    return payment


@dataclass
class WebhookOutcome:
    result: str  # applied | duplicate | ignored | unknown_payment | mismatch
    payment_id: int | None = None


def _method_of(obj: dict) -> str:
    chosen = obj.get("sandbox_payment_method")
    if chosen:
        return _METHOD_NAMES.get(str(chosen), str(chosen))
    types = obj.get("payment_method_types") or []
    if len(types) == 1:
        return _METHOD_NAMES.get(str(types[0]), str(types[0]))
    return ""


def handle_event(session: Session, event: GatewayEvent, *, source: str = "stripe") -> WebhookOutcome:
    """Apply one verified gateway event. Idempotent: a repeated event id changes
    nothing; a second success for the same payment records nothing new.
    Flushes; the webhook route commits."""
    handled_types = (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    )
    session.add(WebhookEvent(source=source, event_id=event.id, received_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return WebhookOutcome("duplicate")
    if event.type not in handled_types:
        session.flush()
        return WebhookOutcome("ignored")

    obj = event.object
    payment = session.exec(select(Payment).where(Payment.provider_session_id == str(obj.get("id", "")))).first()
    if payment is None:
        meta_id = str((obj.get("metadata") or {}).get("payment_id", ""))
        if meta_id.isdigit():
            candidate = session.get(Payment, int(meta_id))
            # the gateway's answer may have been lost before we stored its id
            if candidate is not None and candidate.provider_session_id.startswith("pending-"):
                candidate.provider_session_id = str(obj.get("id"))
                payment = candidate
    if payment is None:
        log.warning("webhook %s for an unknown checkout session", event.id)
        session.flush()
        return WebhookOutcome("unknown_payment")

    amount = obj.get("amount_total")
    currency = str(obj.get("currency", "jpy")).lower()
    if amount is not None and (int(amount) != payment.amount_yen or currency != payment.currency):
        recipient = session.get(Recipient, payment.recipient_id)
        timeline.record(session, recipient, "payment_mismatch", detail={"payment_id": payment.id, "event": event.type})
        session.flush()
        return WebhookOutcome("mismatch", payment.id)

    now = utcnow()
    method = _method_of(obj) or payment.method
    paid_now = obj.get("payment_status") == "paid" and event.type in (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    )
    if payment.status in FINAL:
        session.flush()
        return WebhookOutcome("applied", payment.id)
    if paid_now:
        _mark_paid(session, payment, method, now)
    elif event.type == "checkout.session.completed":
        payment.status = "processing"  # async method: waiting for the store / bank
        payment.method = method
        _touch(session, payment, now, "payment_processing")
    elif event.type == "checkout.session.async_payment_failed":
        payment.status = "failed"
        payment.method = method
        _touch(session, payment, now, "payment_failed")
    elif event.type == "checkout.session.expired" and payment.status in ("open", "processing"):
        payment.status = "expired"
        _touch(session, payment, now, "payment_expired")
    session.flush()
    return WebhookOutcome("applied", payment.id)


def _touch(session: Session, payment: Payment, now, kind: str) -> None:
    payment.updated_at = now
    session.add(payment)
    recipient = session.get(Recipient, payment.recipient_id)
    timeline.record(session, recipient, kind, at=now, detail={"payment_id": payment.id, "method": payment.method})


def _mark_paid(session: Session, payment: Payment, method: str, now) -> None:
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
    already = recipient.paid_at is not None
    timeline.record(
        session,
        recipient,
        "paid",
        step="paid",
        at=now,
        detail={"payment_id": payment.id, "amount_yen": payment.amount_yen, "method": method, "repeat": already},
    )
