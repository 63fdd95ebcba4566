"""Sending use cases: queue a campaign's SMS, pause / resume / cancel it, report
progress, and apply provider delivery statuses to attempts and recipients.

Attempt statuses move forward only (``queued -> sending -> accepted -> sent ->
delivered | undelivered | failed``, ``unknown`` for a lost outcome); recipient
steps go through ``services.timeline.record`` so the one-way funnel keeps each
step's first timestamp whatever order the reports arrive in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, select

from smspay_app.domain import funnel
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.security import new_token
from smspay_app.models import Campaign, OptOut, Recipient, SendAttempt
from smspay_app.services import timeline


class SendingError(Refused, ValueError):
    """Refusal with an i18n key (``sending.error.*``) and its format fields."""


# Attempt status order; final statuses never move except ``delivered`` winning.
ATTEMPT_RANK = {
    "queued": 0,
    "sending": 1,
    "unknown": 1.5,
    "accepted": 2,
    "sent": 3,
    "undelivered": 4,
    "failed": 4,
    "delivered": 5,
}
FINAL_ATTEMPT = ("delivered", "undelivered", "failed", "cancelled")

# Twilio message status -> our attempt status.
PROVIDER_STATUS = {
    "accepted": "accepted",
    "scheduled": "accepted",
    "queued": "accepted",
    "sending": "accepted",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "delivered",
}
# Attempt status -> recipient funnel steps it proves (implied ones first).
FUNNEL_STEPS = {
    "sent": ("sent",),
    "delivered": ("sent", "delivered"),
    "undelivered": ("failed",),
    "failed": ("failed",),
}


def _queue_initial(session: Session, campaign: Campaign, recipients_query, now: datetime, user_id: int | None):
    """Queue one ``initial`` attempt for each recipient the query selects,
    skipping opted-out numbers (recipient ``opted_out``). Returns the time the
    attempts may go (the schedule, or now) and how many were queued."""
    opted = set(session.exec(select(OptOut.phone_e164).where(OptOut.organisation_id == campaign.organisation_id)))
    not_before = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > now else now
    queued = 0
    for recipient in session.exec(recipients_query.order_by(Recipient.id)).all():
        if recipient.phone_e164 in opted:
            timeline.record(session, recipient, "opted_out_skipped", step="opted_out", at=now, actor_user_id=user_id)
            continue
        session.add(
            SendAttempt(
                organisation_id=campaign.organisation_id,
                campaign_id=campaign.id,
                recipient_id=recipient.id,
                kind="initial",
                status="queued",
                idempotency_key=new_token(),
                not_before=not_before,
                created_at=now,
            )
        )
        timeline.record(session, recipient, "queued", step="queued", at=now, actor_user_id=user_id)
        queued += 1
    return not_before, queued


def start_sending(session: Session, campaign: Campaign, user_id: int | None = None) -> int:
    """Queue one ``initial`` attempt for each recipient still ``created``;
    opted-out numbers are skipped (recipient ``opted_out``). The campaign becomes
    ``sending``, or ``scheduled`` when ``scheduled_at`` is in the future.
    Returns the number of attempts queued. Raises ``SendingError`` (a
    ``ValueError``) when the campaign is not draft/paused or has no recipients."""
    if campaign.status not in ("draft", "paused"):
        raise SendingError("sending.error.bad_status", status=campaign.status)
    total = session.exec(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign.id)).one()
    if not total:
        raise SendingError("sending.error.no_recipients")
    now = utcnow()
    not_before, queued = _queue_initial(
        session,
        campaign,
        select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "created"),
        now,
        user_id,
    )
    campaign.status = "scheduled" if not_before > now else "sending"
    campaign.send_started_at = campaign.send_started_at or now
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    return queued


def pause(session: Session, campaign: Campaign) -> None:
    """Stop claiming this campaign's attempts (those in flight finish)."""
    if campaign.status not in ("sending", "scheduled"):
        raise SendingError("sending.error.cannot_pause")
    campaign.status = "paused"
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()


def resume(session: Session, campaign: Campaign) -> None:
    if campaign.status != "paused":
        raise SendingError("sending.error.not_paused")
    now = utcnow()
    campaign.status = "scheduled" if campaign.scheduled_at and campaign.scheduled_at > now else "sending"
    campaign.updated_at = now
    session.add(campaign)
    session.flush()


def cancel(session: Session, campaign: Campaign) -> int:
    """Cancel the campaign and its queued attempts; returns how many were cancelled."""
    if campaign.status in ("completed", "cancelled"):
        raise SendingError("sending.error.cannot_cancel")
    now = utcnow()
    attempts = session.exec(
        select(SendAttempt).where(SendAttempt.campaign_id == campaign.id, SendAttempt.status == "queued")
    ).all()
    for attempt in attempts:
        attempt.status = "cancelled"
        attempt.final_at = now
        session.add(attempt)
        recipient = session.get(Recipient, attempt.recipient_id)
        if recipient is not None and recipient.status in ("created", "queued"):
            timeline.record(session, recipient, "send_cancelled", step="cancelled", at=now)
    campaign.status = "cancelled"
    campaign.completed_at = now
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    return len(attempts)


def sending_progress(session: Session, campaign_id: int) -> dict[str, int]:
    """Counts of the campaign's attempts: queued (excluding held), held (quiet
    hours), sending, sent (accepted or sent), delivered, failed (failed or
    undelivered), unknown, cancelled; from one SQL aggregate."""
    bucket = case(
        (
            (SendAttempt.status == "queued") & (SendAttempt.held_for_quiet_hours == True),  # noqa: E712
            "held",
        ),
        (SendAttempt.status.in_(("accepted", "sent")), "sent"),
        (SendAttempt.status.in_(("failed", "undelivered")), "failed"),
        else_=SendAttempt.status,
    )
    rows = session.exec(
        select(bucket, func.count()).where(SendAttempt.campaign_id == campaign_id).group_by(bucket)
    ).all()
    out = dict.fromkeys(("queued", "sending", "sent", "delivered", "failed", "unknown", "held", "cancelled"), 0)
    for name, count in rows:
        out[name] = out.get(name, 0) + count
    return out


def complete_finished_campaigns(session: Session, now: datetime | None = None) -> int:
    """Campaigns ``sending`` with nothing queued or sending become ``completed``."""
    now = now or utcnow()
    busy = (
        select(SendAttempt.id)
        .where(SendAttempt.campaign_id == Campaign.id, SendAttempt.status.in_(("queued", "sending")))
        .exists()
    )
    campaigns = session.exec(select(Campaign).where(Campaign.status == "sending", ~busy)).all()
    for campaign in campaigns:
        campaign.status = "completed"
        campaign.completed_at = now
        campaign.updated_at = now
        session.add(campaign)
    return len(campaigns)


def promote_scheduled_campaigns(session: Session, now: datetime | None = None) -> int:
    now = now or utcnow()
    campaigns = session.exec(select(Campaign).where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)).all()
    for campaign in campaigns:
        campaign.status = "sending"
        campaign.updated_at = now
        session.add(campaign)
    return len(campaigns)


def apply_provider_status(
    session: Session,
    attempt: SendAttempt,
    provider_status: str,
    *,
    error_code: str = "",
    provider_message_id: str | None = None,
    at: datetime | None = None,
    source: str = "callback",
) -> bool:
    """Apply a provider status report (callback, poll or reconciliation) to an
    attempt and its recipient. Late, duplicate and out-of-order reports never
    move either backwards. Returns True when anything changed."""
    at = at or utcnow()
    new = PROVIDER_STATUS.get(provider_status)
    if new is None or attempt.status == "cancelled":
        return False
    changed = False
    if provider_message_id and not attempt.provider_message_id:
        attempt.provider_message_id = provider_message_id
        changed = True
    current = attempt.status
    if ATTEMPT_RANK[new] > ATTEMPT_RANK.get(current, 0):
        attempt.status = new
        if current in ("sending", "unknown"):
            attempt.lease_owner = None
            attempt.lease_expires_at = None
        if attempt.accepted_at is None:
            attempt.accepted_at = at
        if new in FINAL_ATTEMPT:
            attempt.final_at = at
        if error_code and new in ("failed", "undelivered"):
            attempt.error_code = error_code
        changed = True
    elif new == current and new in FINAL_ATTEMPT and attempt.final_at is not None and at < attempt.final_at:
        attempt.final_at = at  # an earlier report of the same final status arrived late
        changed = True
    if changed:
        session.add(attempt)
    recipient = session.get(Recipient, attempt.recipient_id)
    steps = FUNNEL_STEPS.get(new, ())
    if recipient is None or not steps:
        return changed
    *implied, main = steps
    moves = [s for s in steps if _step_changes(recipient, s, at)]
    if moves:
        for step in implied:
            funnel.apply_step(recipient, step, at)
        detail = {"attempt_id": attempt.id, "status": provider_status, "source": source}
        if error_code:
            detail["error_code"] = error_code
        timeline.record(session, recipient, f"sms_{new}", step=main, at=at, detail=detail)
        changed = True
    return changed


def _step_changes(recipient: Recipient, step: str, at: datetime) -> bool:
    first = getattr(recipient, f"{step}_at", None)
    return (first is None or at < first) or funnel.next_status(recipient.status, step) != recipient.status


def queue_recipients(session: Session, campaign: Campaign, recipient_ids: list[int], user_id: int | None = None) -> int:
    """Queue one ``initial`` attempt for each of these recipients still
    ``created`` (the REST API's add-and-send: a phone order gets its SMS within
    seconds). A draft or completed campaign becomes ``sending`` again; a paused
    one keeps the attempts until resumed; a cancelled one refuses. Opted-out
    numbers are skipped as in ``start_sending``. Returns the number queued."""
    if campaign.status == "cancelled":
        raise SendingError("sending.error.bad_status", status=campaign.status)
    now = utcnow()
    not_before, queued = _queue_initial(
        session,
        campaign,
        select(Recipient).where(
            Recipient.campaign_id == campaign.id, Recipient.id.in_(recipient_ids), Recipient.status == "created"
        ),
        now,
        user_id,
    )
    if queued and campaign.status in ("draft", "completed"):
        campaign.status = "scheduled" if not_before > now else "sending"
        campaign.send_started_at = campaign.send_started_at or now
        campaign.completed_at = None
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    return queued


REISSUE_REFUSED = ("paid", "opted_out", "cancelled")


def queue_reissue(session: Session, recipient: Recipient, user_id: int | None = None) -> SendAttempt:
    """A fresh link by SMS: the live link dies now, a ``reissue`` attempt is
    queued (the dispatcher issues the new link when it sends), and an expired,
    locked or failed recipient returns to the step it had reached. Refused for
    paid, opted-out and cancelled recipients (``sending.error.cannot_reissue``)."""
    from smspay_app.models import Link

    if recipient.status in REISSUE_REFUSED:
        raise SendingError("sending.error.cannot_reissue", status=recipient.status)
    now = utcnow()
    for link in session.exec(select(Link).where(Link.recipient_id == recipient.id, Link.revoked_at.is_(None))):
        link.revoked_at = now
        link.revoked_reason = "reissued"
        link.session_hash = None
        link.session_expires_at = None
        session.add(link)
    if recipient.status in funnel.SIDE_EXITS:
        funnel.reopen(recipient, recipient.status)
    attempt = SendAttempt(
        organisation_id=recipient.organisation_id,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        kind="reissue",
        status="queued",
        idempotency_key=new_token(),
        not_before=now,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    timeline.record(
        session, recipient, "link_reissued", at=now, detail={"attempt_id": attempt.id}, actor_user_id=user_id
    )
    return attempt
