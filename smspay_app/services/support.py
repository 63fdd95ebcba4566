"""Support actions on one recipient, each with a required reason and an audit
record (who, when, what, why) plus a timeline event carrying the actor:

- ``reissue_link``: the live link dies now, a new SMS with a new link is
  queued for the dispatcher (which issues the link at claim time and holds it
  for quiet hours unless the staff member explicitly overrides them);
- ``resend``: the SMS is sent again (with a fresh link; the old one is revoked
  when the new message goes out);
- ``extend_link``: the current link lives longer;
- ``unlock_link``: a link locked after wrong answers works again;
- ``cancel_recipient``: nothing more is sent, the link stops working;
- ``mark_paid_outside``: paid by bank transfer, at the counter...: a manual
  payment row and the ``paid`` step.

Every function checks the caller's permission (``recipient.support``) and
organisation on the server; refusals raise ``SupportError`` with an i18n key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from smspay_app.domain import funnel
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.security import new_token
from smspay_app.models import AuditLog, Campaign, Link, OptOut, Payment, Recipient, SendAttempt
from smspay_app.services import links, timeline
from smspay_app.services.auth import Caller

PERMISSION = "recipient.support"
ACTIONS = ("reissue", "resend", "extend", "unlock", "cancel", "mark_paid")
MAX_REASON = 500
MIN_REASON = 2
MAX_EXTEND_HOURS = 90 * 24
# Campaign states whose non-initial attempts the dispatcher claims.
SENDABLE_CAMPAIGN_STATES = ("sending", "completed")
CLOSED_RECIPIENT_STATES = ("paid", "cancelled", "opted_out")


class SupportError(Refused, ValueError):
    """A refused support action: ``key`` is an i18n key (``ops.error.*``)."""


@dataclass(frozen=True)
class ActionResult:
    action: str
    audit_id: int
    attempt_id: int | None = None
    held_for_quiet_hours: bool = False


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON:
        raise SupportError("ops.error.reason_required")
    return text[:MAX_REASON]


def load_recipient(session: Session, caller: Caller, recipient_id: int) -> tuple[Recipient, Campaign]:
    """The recipient and its campaign when both belong to the caller's
    organisation; ``SupportError('ops.error.not_found')`` otherwise."""
    caller.require(PERMISSION)
    recipient = session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.organisation_id != caller.organisation_id or recipient.erased_at is not None:
        raise SupportError("ops.error.not_found")
    campaign = session.get(Campaign, recipient.campaign_id)
    return recipient, campaign


def current_link(session: Session, recipient_id: int) -> Link | None:
    """The recipient's newest link that was not revoked (it may be expired)."""
    return session.exec(
        select(Link).where(Link.recipient_id == recipient_id, Link.revoked_at.is_(None)).order_by(Link.id.desc())
    ).first()


def _audit(
    session: Session, caller: Caller, recipient: Recipient, action: str, reason: str, detail: dict[str, Any]
) -> AuditLog:
    entry = AuditLog(
        organisation_id=caller.organisation_id,
        user_id=caller.user_id,
        action=f"support.{action}",
        target_type="recipient",
        target_id=recipient.id,
        reason=reason,
        detail=json.dumps(detail, ensure_ascii=False, default=str),
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def _record(
    session: Session,
    caller: Caller,
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
        actor_user_id=caller.user_id,
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
        raise SupportError("ops.error.recipient_closed", status=recipient.status)
    if _is_opted_out(session, recipient):
        raise SupportError("ops.error.opted_out")
    if campaign.status not in SENDABLE_CAMPAIGN_STATES:
        raise SupportError("ops.error.campaign_not_sending", status=campaign.status)
    pending = session.exec(
        select(SendAttempt.id).where(
            SendAttempt.recipient_id == recipient.id, SendAttempt.status.in_(("queued", "sending"))
        )
    ).first()
    if pending is not None:
        raise SupportError("ops.error.already_queued")


def _queue(session: Session, recipient: Recipient, kind: str, override_quiet_hours: bool) -> SendAttempt:
    now = utcnow()
    attempt = SendAttempt(
        organisation_id=recipient.organisation_id,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        kind=kind,
        status="queued",
        idempotency_key=new_token(),
        not_before=now,
        ignore_quiet_hours=override_quiet_hours,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt


def reissue_link(
    session: Session, caller: Caller, recipient_id: int, reason: str, *, override_quiet_hours: bool = False
) -> ActionResult:
    """Revoke the live link now and queue a new SMS with a new link."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, caller, recipient_id)
    _check_can_send(session, recipient, campaign)
    now = utcnow()
    revoked = 0
    for link in session.exec(select(Link).where(Link.recipient_id == recipient.id, Link.revoked_at.is_(None))):
        revoked += links.revoke_link(session, link, "reissued", now=now)
    if recipient.status in ("expired", "locked", "failed"):
        funnel.reopen(recipient, "queued")
        session.add(recipient)
    attempt = _queue(session, recipient, "reissue", override_quiet_hours)
    audit = _audit(
        session,
        caller,
        recipient,
        "reissue",
        reason,
        {"attempt_id": attempt.id, "links_revoked": revoked, "override_quiet_hours": override_quiet_hours},
    )
    _record(
        session, caller, recipient, "reissue", audit, attempt_id=attempt.id, override_quiet_hours=override_quiet_hours
    )
    session.commit()
    return ActionResult("reissue", audit.id, attempt.id)


def resend(
    session: Session, caller: Caller, recipient_id: int, reason: str, *, override_quiet_hours: bool = False
) -> ActionResult:
    """Send the SMS again (the dispatcher gives it a fresh link and retires the
    old one when the new message goes out)."""
    reason = clean_reason(reason)
    recipient, campaign = load_recipient(session, caller, recipient_id)
    _check_can_send(session, recipient, campaign)
    if recipient.status == "failed":
        funnel.reopen(recipient, "queued")
        session.add(recipient)
    attempt = _queue(session, recipient, "resend", override_quiet_hours)
    audit = _audit(
        session,
        caller,
        recipient,
        "resend",
        reason,
        {"attempt_id": attempt.id, "override_quiet_hours": override_quiet_hours},
    )
    _record(
        session, caller, recipient, "resend", audit, attempt_id=attempt.id, override_quiet_hours=override_quiet_hours
    )
    session.commit()
    return ActionResult("resend", audit.id, attempt.id)


def extend_link(session: Session, caller: Caller, recipient_id: int, reason: str, hours: int) -> ActionResult:
    """The current link expires ``hours`` from now (from its old expiry if that
    is later). An ``expired`` recipient returns to the step it had reached."""
    reason = clean_reason(reason)
    try:
        hours = int(hours)
    except (TypeError, ValueError):
        raise SupportError("ops.error.hours_range", max=MAX_EXTEND_HOURS) from None
    if not 1 <= hours <= MAX_EXTEND_HOURS:
        raise SupportError("ops.error.hours_range", max=MAX_EXTEND_HOURS)
    recipient, _campaign = load_recipient(session, caller, recipient_id)
    if recipient.status in ("cancelled", "opted_out"):
        raise SupportError("ops.error.recipient_closed", status=recipient.status)
    link = current_link(session, recipient.id)
    if link is None:
        raise SupportError("ops.error.no_link")
    now = utcnow()
    old = link.expires_at
    link.expires_at = max(now, old) + timedelta(hours=hours)
    session.add(link)
    if recipient.status == "expired":
        funnel.reopen(recipient, "sent")
        session.add(recipient)
    audit = _audit(
        session,
        caller,
        recipient,
        "extend",
        reason,
        {"link_id": link.id, "hours": hours, "old_expires_at": old, "new_expires_at": link.expires_at},
    )
    _record(session, caller, recipient, "extend", audit, link_id=link.id, hours=hours, expires_at=link.expires_at)
    session.commit()
    return ActionResult("extend", audit.id)


def unlock_link(session: Session, caller: Caller, recipient_id: int, reason: str) -> ActionResult:
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, caller, recipient_id)
    link = current_link(session, recipient.id)
    if link is None:
        raise SupportError("ops.error.no_link")
    if link.locked_at is None and recipient.status != "locked":
        raise SupportError("ops.error.not_locked")
    links.unlock_link(session, link)
    recipient.failed_answer_count = 0
    if recipient.status == "locked":
        funnel.reopen(recipient, "clicked")
    session.add(recipient)
    audit = _audit(session, caller, recipient, "unlock", reason, {"link_id": link.id})
    _record(session, caller, recipient, "unlock", audit, link_id=link.id)
    session.commit()
    return ActionResult("unlock", audit.id)


def cancel_recipient(session: Session, caller: Caller, recipient_id: int, reason: str) -> ActionResult:
    """No further SMS to this recipient in this campaign; its link stops working."""
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, caller, recipient_id)
    if recipient.status in CLOSED_RECIPIENT_STATES:
        raise SupportError("ops.error.recipient_closed", status=recipient.status)
    now = utcnow()
    cancelled = 0
    for attempt in session.exec(
        select(SendAttempt).where(SendAttempt.recipient_id == recipient.id, SendAttempt.status == "queued")
    ):
        attempt.status = "cancelled"
        attempt.final_at = now
        session.add(attempt)
        cancelled += 1
    revoked = 0
    for link in session.exec(select(Link).where(Link.recipient_id == recipient.id, Link.revoked_at.is_(None))):
        revoked += links.revoke_link(session, link, "cancelled", now=now)
    audit = _audit(
        session, caller, recipient, "cancel", reason, {"attempts_cancelled": cancelled, "links_revoked": revoked}
    )
    _record(session, caller, recipient, "cancel", audit, step="cancelled")
    session.commit()
    return ActionResult("cancel", audit.id)


def mark_paid_outside(
    session: Session, caller: Caller, recipient_id: int, reason: str, amount_yen: int | None = None
) -> ActionResult:
    """Paid outside the system (bank transfer, counter): a ``manual`` payment
    row and the ``paid`` step. Refused when already paid."""
    reason = clean_reason(reason)
    recipient, _campaign = load_recipient(session, caller, recipient_id)
    if recipient.status == "paid" or recipient.paid_at is not None:
        raise SupportError("ops.error.already_paid")
    amount = (recipient.amount_yen or _campaign.amount_yen) if amount_yen is None else amount_yen
    if amount is None or amount < 0 or amount > 10_000_000:
        raise SupportError("ops.error.amount")
    now = utcnow()
    payment = Payment(
        organisation_id=recipient.organisation_id,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        amount_yen=amount,
        provider="manual",
        provider_session_id=f"manual-{new_token()}",
        status="succeeded",
        method="manual",
        created_at=now,
        paid_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    # A paid recipient needs no more messages.
    for attempt in session.exec(
        select(SendAttempt).where(SendAttempt.recipient_id == recipient.id, SendAttempt.status == "queued")
    ):
        attempt.status = "cancelled"
        attempt.final_at = now
        session.add(attempt)
    audit = _audit(session, caller, recipient, "mark_paid", reason, {"payment_id": payment.id, "amount_yen": amount})
    _record(
        session,
        caller,
        recipient,
        "mark_paid",
        audit,
        step="paid",
        payment_id=payment.id,
        amount_yen=amount,
        method="manual",
    )
    session.commit()
    return ActionResult("mark_paid", audit.id)


def run_action(
    session: Session,
    caller: Caller,
    action: str,
    recipient_id: int,
    reason: str,
    *,
    hours: int | None = None,
    override_quiet_hours: bool = False,
    amount_yen: int | None = None,
) -> ActionResult:
    """One entry point for the UI: dispatch ``action`` (one of ``ACTIONS``)."""
    if action == "reissue":
        return reissue_link(session, caller, recipient_id, reason, override_quiet_hours=override_quiet_hours)
    if action == "resend":
        return resend(session, caller, recipient_id, reason, override_quiet_hours=override_quiet_hours)
    if action == "extend":
        return extend_link(session, caller, recipient_id, reason, hours if hours is not None else 72)
    if action == "unlock":
        return unlock_link(session, caller, recipient_id, reason)
    if action == "cancel":
        return cancel_recipient(session, caller, recipient_id, reason)
    if action == "mark_paid":
        return mark_paid_outside(session, caller, recipient_id, reason, amount_yen)
    raise SupportError("ops.error.unknown_action")
