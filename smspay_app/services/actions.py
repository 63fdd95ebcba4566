"""One function per action on a recipient, called by every entry point: the
support pages (through ``support.run_action``), the REST API and the worker.

- ``reissue_link``: the live link dies now, a new SMS with a new link is
  queued for the dispatcher (which issues the link at claim time and holds it
  for quiet hours unless the actor explicitly overrides them);
- ``resend``: the SMS is sent again (with a fresh link; the old one is revoked
  when the new message goes out);
- ``extend_link``: the current link lives longer;
- ``unlock_link``: a link locked after wrong answers works again;
- ``cancel_recipient``: nothing more is sent, the link stops working;
- ``mark_paid_outside``: paid by bank transfer, at the counter...: a manual
  payment row and the ``paid`` step;
- ``record_partial_payment``: part of the amount paid outside the system,
  recorded with a reason: a ``manual`` payment row, the recipient stays
  unpaid with less outstanding, and every total counts what was recorded;
- ``refund_payment``: give money back (full or partial) through the payment
  gateway's refund API; the recipient stays ``paid`` (the funnel never moves
  back), the payment keeps ``refunded_yen``; outbound webhook
  ``payment.refunded``;
- ``queue_send``: queue the initial SMS of given recipients of a campaign.

Each takes ``(session, actor, ..., reason)``: the actor is a staff ``Caller``
or an API key's ``ApiCaller``. Each checks the actor's permission
(``recipient.support``) and organisation, applies one set of rules, writes one
``AuditLog`` row (``support.<action>``; the actor's user id or API key id in
the detail, the reason) and one timeline event of kind ``staff_<action>``
(the name for every actor; the kind says what was done, the audit row says
who), and flushes: the entry point commits. Refusals raise ``ActionRefused``
with an i18n key (``ops.error.*``).

Opt-outs are per phone number, not per recipient: they live in
``services.optouts`` (staff) and ``services.replies`` (a STOP reply)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from smspay_app.domain import funnel
from smspay_app.domain.campaigns import FOLLOW_UPS_SENT
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import yen
from smspay_app.domain.security import new_token
from smspay_app.models import AuditLog, Campaign, Link, OptOut, Payment, Recipient
from smspay_app.providers.payments.base import GatewayError, PaymentGateway
from smspay_app.services import links, sending, timeline
from smspay_app.services.auth import Caller

PERMISSION = "recipient.support"
MAX_REASON = 500
MIN_REASON = 2
MAX_EXTEND_HOURS = 90 * 24
# Campaign states whose non-initial attempts the dispatcher claims.
SENDABLE_CAMPAIGN_STATES = FOLLOW_UPS_SENT
CLOSED_RECIPIENT_STATES = ("paid", "cancelled", "opted_out")
# The reason written for REST API calls, whose requests carry none.
API_REASON = "API"
# The reason recorded when an operator sends from the console (the send button asks none).
CONSOLE_REASON = "console"


class ActionRefused(Refused, ValueError):
    """A refused recipient action: ``key`` is an i18n key (``ops.error.*``)."""


@dataclass(frozen=True)
class ActionResult:
    action: str
    audit_id: int
    attempt_id: int | None = None
    held_for_quiet_hours: bool = False


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON:
        raise ActionRefused("ops.error.reason_required")
    return text[:MAX_REASON]


def load_recipient(session: Session, actor: Caller, recipient_id: int) -> tuple[Recipient, Campaign]:
    """The recipient and its campaign when both belong to the actor's
    organisation; ``ActionRefused('ops.error.not_found')`` otherwise."""
    actor.require(PERMISSION)
    recipient = session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.organisation_id != actor.organisation_id or recipient.erased_at is not None:
        raise ActionRefused("ops.error.not_found")
    campaign = session.get(Campaign, recipient.campaign_id)
    return recipient, campaign


def current_link(session: Session, recipient_id: int) -> Link | None:
    """The recipient's newest link that was not revoked (it may be expired)."""
    return session.exec(
        select(Link).where(Link.recipient_id == recipient_id, Link.revoked_at.is_(None)).order_by(Link.id.desc())
    ).first()


def actor_detail(actor: Caller) -> dict[str, Any]:
    """Who acted, for the audit detail: the API key's id or the user's."""
    api_key_id = getattr(actor, "api_key_id", None)
    if api_key_id:
        return {"actor": "api_key", "api_key_id": api_key_id}
    return {"actor": "user", "user_id": actor.user_id}


def _audit(
    session: Session, actor: Caller, recipient: Recipient, action: str, reason: str, detail: dict[str, Any]
) -> AuditLog:
    entry = AuditLog(
        organisation_id=actor.organisation_id,
        user_id=actor.user_id,
        action=f"support.{action}",
        target_type="recipient",
        target_id=recipient.id,
        reason=reason,
        detail=json.dumps({**actor_detail(actor), **detail}, ensure_ascii=False, default=str),
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def _record(
    session: Session,
    actor: Caller,
    recipient: Recipient,
    action: str,
    audit: AuditLog,
    step: str | None = None,
    **detail: Any,
) -> None:
    timeline.record(
        session,
        recipient,
        f"staff_{action}",
        step=step,
        at=audit.at,
        detail={"audit_id": audit.id, **detail},
        actor_user_id=actor.user_id,
    )


def _is_opted_out(session: Session, recipient: Recipient) -> bool:
    return (
        session.exec(
            select(OptOut.id).where(
                OptOut.organisation_id == recipient.organisation_id, OptOut.phone_e164 == recipient.phone_e164
            )
        ).first()
        is not None
    )


def _check_can_send(session: Session, recipient: Recipient, campaign: Campaign) -> None:
    if recipient.status in CLOSED_RECIPIENT_STATES:
        raise ActionRefused("ops.error.recipient_closed", status=recipient.status)
    if _is_opted_out(session, recipient):
        raise ActionRefused("ops.error.opted_out")
    if campaign.status not in SENDABLE_CAMPAIGN_STATES:
        raise ActionRefused("ops.error.campaign_not_sending", status=campaign.status)
    if sending.pending_attempt(session, recipient.id) is not None:
        raise ActionRefused("ops.error.already_queued")


def reissue_link(
    session: Session, actor: Caller, recipient_id: int, reason: str, *, override_quiet_hours: bool = False
) -> ActionResult:
    """Revoke the live link now and queue a new SMS with a new link."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, actor, recipient_id)
    _check_can_send(session, recipient, campaign)
    now = utcnow()
    revoked = links.revoke_live_links(session, [recipient.id], "reissued", now)
    if recipient.status in ("expired", "locked", "failed"):
        funnel.reopen(recipient, "queued")
        session.add(recipient)
    attempt = sending.new_attempt(session, recipient, "reissue", now=now, ignore_quiet_hours=override_quiet_hours)
    audit = _audit(
        session,
        actor,
        recipient,
        "reissue",
        reason,
        {"attempt_id": attempt.id, "links_revoked": revoked, "override_quiet_hours": override_quiet_hours},
    )
    _record(
        session, actor, recipient, "reissue", audit, attempt_id=attempt.id, override_quiet_hours=override_quiet_hours
    )
    session.flush()
    return ActionResult("reissue", audit.id, attempt.id)


def resend(
    session: Session, actor: Caller, recipient_id: int, reason: str, *, override_quiet_hours: bool = False
) -> ActionResult:
    """Send the SMS again (the dispatcher gives it a fresh link and retires the
    old one when the new message goes out)."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, actor, recipient_id)
    _check_can_send(session, recipient, campaign)
    if recipient.status == "failed":
        funnel.reopen(recipient, "queued")
        session.add(recipient)
    attempt = sending.new_attempt(session, recipient, "resend", ignore_quiet_hours=override_quiet_hours)
    audit = _audit(
        session,
        actor,
        recipient,
        "resend",
        reason,
        {"attempt_id": attempt.id, "override_quiet_hours": override_quiet_hours},
    )
    _record(
        session, actor, recipient, "resend", audit, attempt_id=attempt.id, override_quiet_hours=override_quiet_hours
    )
    session.flush()
    return ActionResult("resend", audit.id, attempt.id)


def extend_link(session: Session, actor: Caller, recipient_id: int, reason: str, hours: int) -> ActionResult:
    """The current link expires ``hours`` from now (from its old expiry if that
    is later). An ``expired`` recipient returns to the step it had reached."""
    reason = clean_reason(reason)
    try:
        hours = int(hours)
    except (TypeError, ValueError):
        raise ActionRefused("ops.error.hours_range", max=MAX_EXTEND_HOURS) from None
    if not 1 <= hours <= MAX_EXTEND_HOURS:
        raise ActionRefused("ops.error.hours_range", max=MAX_EXTEND_HOURS)
    recipient, _campaign = load_recipient(session, actor, recipient_id)
    if recipient.status in ("cancelled", "opted_out"):
        raise ActionRefused("ops.error.recipient_closed", status=recipient.status)
    link = current_link(session, recipient.id)
    if link is None:
        raise ActionRefused("ops.error.no_link")
    now = utcnow()
    old = link.expires_at
    link.expires_at = max(now, old) + timedelta(hours=hours)
    session.add(link)
    if recipient.status == "expired":
        funnel.reopen(recipient, "sent")
        session.add(recipient)
    audit = _audit(
        session,
        actor,
        recipient,
        "extend",
        reason,
        {"link_id": link.id, "hours": hours, "old_expires_at": old, "new_expires_at": link.expires_at},
    )
    _record(session, actor, recipient, "extend", audit, link_id=link.id, hours=hours, expires_at=link.expires_at)
    session.flush()
    return ActionResult("extend", audit.id)


def unlock_link(session: Session, actor: Caller, recipient_id: int, reason: str) -> ActionResult:
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, actor, recipient_id)
    link = current_link(session, recipient.id)
    if link is None:
        raise ActionRefused("ops.error.no_link")
    if link.locked_at is None and recipient.status != "locked":
        raise ActionRefused("ops.error.not_locked")
    links.unlock_link(session, link)
    recipient.failed_answer_count = 0
    if recipient.status == "locked":
        funnel.reopen(recipient, "clicked")
    session.add(recipient)
    audit = _audit(session, actor, recipient, "unlock", reason, {"link_id": link.id})
    _record(session, actor, recipient, "unlock", audit, link_id=link.id)
    session.flush()
    return ActionResult("unlock", audit.id)


def cancel_recipient(session: Session, actor: Caller, recipient_id: int, reason: str) -> ActionResult:
    """No further SMS to this recipient in this campaign; its link stops working."""
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, actor, recipient_id)
    if recipient.status in CLOSED_RECIPIENT_STATES:
        raise ActionRefused("ops.error.recipient_closed", status=recipient.status)
    now = utcnow()
    cancelled = len(sending.cancel_queued(session, [recipient.id], now))
    revoked = links.revoke_live_links(session, [recipient.id], "cancelled", now)
    audit = _audit(
        session, actor, recipient, "cancel", reason, {"attempts_cancelled": cancelled, "links_revoked": revoked}
    )
    _record(session, actor, recipient, "cancel", audit, step="cancelled")
    session.flush()
    return ActionResult("cancel", audit.id)


def mark_paid_outside(
    session: Session, actor: Caller, recipient_id: int, reason: str, amount_yen: int | None = None
) -> ActionResult:
    """Paid outside the system (bank transfer, counter): a ``manual`` payment
    row and the ``paid`` step. Refused when already paid."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, actor, recipient_id)
    if recipient.status == "paid" or recipient.paid_at is not None:
        raise ActionRefused("ops.error.already_paid")
    outstanding = outstanding_yen(recipient, campaign)
    amount = outstanding if amount_yen is None else amount_yen
    if amount is None or amount < 0 or amount > 10_000_000:
        raise ActionRefused("ops.error.amount")
    if outstanding and amount != outstanding:
        # Issue 18, item 11: support marked a ¥1,000 invoice paid for ¥1 or
        # ¥0 while the dashboard counted ¥1,000. The amount recorded is the
        # amount outstanding; a part of it is record_partial_payment.
        raise ActionRefused("ops.error.amount_mismatch", expected=outstanding, given=amount)
    now = utcnow()
    payment = _manual_payment(session, recipient, amount, now)
    sending.cancel_queued(session, [recipient.id], now)  # a paid recipient needs no more messages
    audit = _audit(session, actor, recipient, "mark_paid", reason, {"payment_id": payment.id, "amount_yen": amount})
    _record(
        session,
        actor,
        recipient,
        "mark_paid",
        audit,
        step="paid",
        payment_id=payment.id,
        amount_yen=amount,
        method="manual",
    )
    session.flush()
    return ActionResult("mark_paid", audit.id)


def offered_actions(session: Session, recipient: Recipient, campaign: Campaign) -> list[str]:
    """The actions that could succeed on this recipient now, in the pages'
    order (issue 15 item 10: no impossible or stale action is offered, e.g.
    ロック解除 on a link that is not locked, 支払済みにする on a paid
    recipient). The same rules as the actions' own refusals; an action may
    still be refused at the moment it runs (a reason, the amount)."""
    closed = recipient.status in CLOSED_RECIPIENT_STATES
    paid = recipient.status == "paid" or recipient.paid_at is not None
    link = current_link(session, recipient.id)
    can_send = not closed and campaign.status in SENDABLE_CAMPAIGN_STATES and not _is_opted_out(session, recipient)
    refundable = session.exec(
        select(Payment.id).where(
            Payment.recipient_id == recipient.id, Payment.status == "succeeded", Payment.provider_payment_intent != ""
        )
    ).first()
    offered = {
        "reissue": can_send,
        "resend": can_send,
        "extend": link is not None and recipient.status not in ("cancelled", "opted_out"),
        "unlock": link is not None and (link.locked_at is not None or recipient.status == "locked"),
        "cancel": not closed,
        "mark_paid": not paid and recipient.status not in ("cancelled", "opted_out"),
        "record_partial_payment": not paid
        and recipient.status not in ("cancelled", "opted_out")
        and outstanding_yen(recipient, campaign) > 1,
        "refund": refundable is not None,
    }
    return [action for action, ok in offered.items() if ok]


def outstanding_yen(recipient: Recipient, campaign: Campaign) -> int:
    """What the recipient still owes: the amount less the partial payments
    recorded (0 once paid)."""
    if recipient.paid_at is not None:
        return 0
    return max(0, (recipient.amount_yen or campaign.amount_yen or 0) - (recipient.partial_paid_yen or 0))


def record_partial_payment(
    session: Session, actor: Caller, recipient_id: int, amount_yen: int | None, reason: str
) -> ActionResult:
    """Part of the amount paid outside the system (issue 18 item 11: "support
    can mark a ¥1,000 invoice paid for ¥1 or ¥0 while the dashboard counts
    ¥1,000"): an explicit partial payment with a reason. A ``manual`` payment
    row, ``recipient.partial_paid_yen`` grows, the recipient stays unpaid with
    the outstanding amount reduced; the dashboard's collected and outstanding
    and the export count it. Refused unless ¥1 ≤ amount < what is outstanding
    (the whole rest is ``mark_paid_outside``)."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, actor, recipient_id)
    if recipient.status == "paid" or recipient.paid_at is not None:
        raise ActionRefused("ops.error.already_paid")
    outstanding = outstanding_yen(recipient, campaign)
    if not isinstance(amount_yen, int) or isinstance(amount_yen, bool) or amount_yen < 1 or amount_yen >= outstanding:
        raise ActionRefused("ops.error.partial_amount", outstanding=outstanding, given=amount_yen)
    now = utcnow()
    payment = _manual_payment(session, recipient, amount_yen, now, partial=True)
    recipient.partial_paid_yen = (recipient.partial_paid_yen or 0) + amount_yen
    session.add(recipient)
    left = outstanding - amount_yen
    audit = _audit(
        session,
        actor,
        recipient,
        "record_partial_payment",
        reason,
        {"payment_id": payment.id, "amount_yen": amount_yen, "outstanding_yen": left},
    )
    _record(
        session,
        actor,
        recipient,
        "record_partial_payment",
        audit,
        payment_id=payment.id,
        amount_yen=amount_yen,
        outstanding_yen=left,
        method="manual",
    )
    session.flush()
    return ActionResult("record_partial_payment", audit.id)


def _manual_payment(session: Session, recipient: Recipient, amount: int, now, *, partial: bool = False) -> Payment:
    """A payment received outside the system: ``succeeded`` (the recipient is
    paid), or ``partial`` (a part of it; never counted as paid)."""
    payment = Payment(
        organisation_id=recipient.organisation_id,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        amount_yen=amount,
        provider="manual",
        provider_session_id=f"manual-{new_token()}",
        status="partial" if partial else "succeeded",
        method="manual",
        created_at=now,
        paid_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def refund_payment(
    session: Session,
    actor: Caller,
    recipient_id: int,
    amount_yen: int | None,
    reason: str,
    *,
    payment_id: int | None = None,
    gateway: PaymentGateway | None = None,
) -> ActionResult:
    """Refund ``amount_yen`` (None: all that is left; or part of it) of the
    recipient's gateway payment (``payment_id``, or the newest succeeded one)
    through the gateway's refund API. Refused when nothing was paid through
    the gateway, or the amount is not between ¥1 and what is left. The funnel
    keeps ``paid``; the timeline shows ``staff_refund``."""
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, actor, recipient_id)
    query = select(Payment).where(Payment.recipient_id == recipient.id, Payment.status == "succeeded")
    if payment_id is not None:
        query = query.where(Payment.id == payment_id)
    payment = session.exec(query.order_by(Payment.id.desc())).first()
    if payment is None or not payment.provider_payment_intent:
        raise ActionRefused("ops.error.nothing_to_refund")
    left = payment.amount_yen - payment.refunded_yen
    if amount_yen is None:
        amount_yen = left
    if not isinstance(amount_yen, int) or not 1 <= amount_yen <= left:
        raise ActionRefused("ops.error.refund_amount", max=yen(left))
    try:
        if gateway is None:  # the account the payment was made through
            from smspay_app.services.connections import gateway_for_payment

            gateway = gateway_for_payment(session, payment)
        refund = gateway.create_refund(
            payment_intent=payment.provider_payment_intent,
            amount_yen=amount_yen,
            reason="requested_by_customer",
            metadata={"payment_id": str(payment.id), "recipient_id": str(recipient.id)},
            # the same refund asked twice (a double click) is one refund
            idempotency_key=f"smspay-refund-{payment.id}-{payment.refunded_yen}-{amount_yen}",
        )
    except GatewayError as exc:
        raise ActionRefused("ops.error.refund_gateway", detail=exc.message) from exc
    payment.refunded_yen += amount_yen
    payment.updated_at = utcnow()
    session.add(payment)
    detail = {
        "payment_id": payment.id,
        "amount_yen": amount_yen,
        "refunded_yen": payment.refunded_yen,
        "full": payment.refunded_yen == payment.amount_yen,
        "refund_id": str(refund.get("id", "")),
    }
    audit = _audit(session, actor, recipient, "refund", reason, detail)
    _record(session, actor, recipient, "refund", audit, **detail)
    session.flush()
    return ActionResult("refund", audit.id)


def queue_send(
    session: Session,
    actor: Caller,
    campaign: Campaign,
    recipient_ids: list[int] | None,
    reason: str,
    *,
    ignore_quiet_hours: bool = False,
) -> int:
    """Queue initial SMS: for the whole campaign (``recipient_ids=None``:
    ``sending.start_sending``, from draft or paused) or for these recipients
    (those still ``created``; a draft or active campaign reopens:
    ``sending.queue_recipients``). Opted-out numbers are skipped. One audit
    row for the batch. Returns how many were queued. ``ignore_quiet_hours``
    (a whole-campaign send only): the operator's "send now anyway", whose
    reason is the audit row's."""
    reason = clean_reason(reason)
    actor.require("campaign.send")
    if campaign.organisation_id != actor.organisation_id:
        raise ActionRefused("ops.error.not_found")
    if recipient_ids is None:
        queued = sending.start_sending(session, campaign, actor.user_id, ignore_quiet_hours=ignore_quiet_hours)
    else:
        queued = sending.queue_recipients(session, campaign, recipient_ids, user_id=actor.user_id)
    session.add(
        AuditLog(
            organisation_id=actor.organisation_id,
            user_id=actor.user_id,
            action="campaign.send",
            target_type="campaign",
            target_id=campaign.id,
            reason=reason,
            detail=json.dumps(
                {
                    **actor_detail(actor),
                    "recipients": "all" if recipient_ids is None else len(recipient_ids),
                    "queued": queued,
                    "scheduled_at": campaign.scheduled_at,
                    **({"ignore_quiet_hours": True} if ignore_quiet_hours else {}),
                },
                default=str,
            ),
            at=utcnow(),
        )
    )
    session.flush()
    return queued
