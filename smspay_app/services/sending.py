"""Sending use cases: queue a campaign's SMS, pause / resume / cancel it, report
progress, and apply provider delivery statuses to attempts and recipients.

The attempt and campaign lifecycles are the pure state machines in
``domain.attempts`` and ``domain.campaigns``; this module applies them to rows.
Every ``SendAttempt`` is built here (``new_attempt`` / ``queue_initial``).
Recipient steps go through ``services.timeline.record`` so the one-way funnel
keeps each step's first timestamp whatever order the reports arrive in.
Functions flush; the caller (page handler, API route, worker step) commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, update
from sqlmodel import Session, select

from smspay_app.domain import attempts as attempt_machine
from smspay_app.domain import campaigns as campaign_machine
from smspay_app.domain import funnel, quiet_hours
from smspay_app.domain.attempts import PROVIDER_STATUS, AttemptStatus
from smspay_app.domain.campaigns import CampaignRefused, CampaignStatus
from smspay_app.domain.clock import utcnow
from smspay_app.domain.security import new_token
from smspay_app.models import Campaign, OptOut, Organisation, Recipient, SendAttempt
from smspay_app.services import timeline

# The sending refusals are the campaign machine's (``sending.error.*`` keys).
SendingError = CampaignRefused
__all__ = ["PROVIDER_STATUS", "SendingError"]

# Attempt status -> recipient funnel steps it proves (implied ones first).
FUNNEL_STEPS = {
    AttemptStatus.SENT: ("sent",),
    AttemptStatus.DELIVERED: ("sent", "delivered"),
    AttemptStatus.UNDELIVERED: ("failed",),
    AttemptStatus.FAILED: ("failed",),
}


def new_attempt(
    session: Session,
    recipient: Recipient,
    kind: str,
    *,
    now: datetime | None = None,
    not_before: datetime | None = None,
    ignore_quiet_hours: bool = False,
    flush: bool = True,
) -> SendAttempt:
    """The one place a ``SendAttempt`` is built: a ``queued`` attempt of
    ``kind`` (initial, reissue, resend; reminders use ``attempt_row`` for their
    bulk insert) for ``recipient``, with a fresh idempotency key. Added, and
    flushed unless ``flush=False`` (a batch flushes once at its end)."""
    now = now or utcnow()
    attempt = SendAttempt(
        **attempt_row(
            recipient.organisation_id,
            recipient.campaign_id,
            recipient.id,
            kind,
            now,
            not_before=not_before or now,
            ignore_quiet_hours=ignore_quiet_hours,
        )
    )
    session.add(attempt)
    if flush:
        session.flush()
    return attempt


def attempt_row(
    organisation_id: int, campaign_id: int, recipient_id: int, kind: str, now: datetime, **values: object
) -> dict:
    """The column values of a new queued attempt (for ``new_attempt`` and for
    bulk inserts such as the reminder scheduler's)."""
    return {
        "organisation_id": organisation_id,
        "campaign_id": campaign_id,
        "recipient_id": recipient_id,
        "kind": kind,
        "status": AttemptStatus.QUEUED.value,
        "idempotency_key": new_token(),
        "not_before": now,
        "created_at": now,
        **values,
    }


def lock_attempts(session: Session, attempt_ids: Iterable[int]) -> None:
    """Take the write lock on these attempts before reading them to change
    them, so that a status callback committed meanwhile is seen and never
    overwritten by the older row (a late ``accepted`` over ``delivered``).
    A no-op UPDATE, because SQLite has no ``SELECT ... FOR UPDATE``: there it
    takes the database's write lock, on PostgreSQL it locks the rows. Hold it
    briefly: commit soon after."""
    ids = list(attempt_ids)
    if ids:
        session.exec(update(SendAttempt).where(SendAttempt.id.in_(ids)).values(id=SendAttempt.id))


def pending_attempt(session: Session, recipient_id: int) -> int | None:
    """The id of an attempt of this recipient still queued or sending, if any."""
    return session.exec(
        select(SendAttempt.id).where(
            SendAttempt.recipient_id == recipient_id, SendAttempt.status.in_(attempt_machine.PENDING)
        )
    ).first()


def cancel_queued(session: Session, recipient_ids: Iterable[int], now: datetime | None = None) -> list[SendAttempt]:
    """Cancel the queued attempts of these recipients (nothing more will be
    sent to them); returns the attempts cancelled."""
    now = now or utcnow()
    ids = list(recipient_ids)
    if not ids:
        return []
    cancelled = list(
        session.exec(
            select(SendAttempt).where(SendAttempt.recipient_id.in_(ids), SendAttempt.status == AttemptStatus.QUEUED)
        )
    )
    for attempt in cancelled:
        attempt_machine.cancel(attempt, now=now)
        session.add(attempt)
    return cancelled


def quiet_wait(session: Session, campaign: Campaign, at: datetime) -> datetime | None:
    """When SMS of this campaign due at ``at`` (naive UTC) may leave: None when
    ``at`` is outside the quiet hours that apply (the campaign's override, else
    the organisation's), else the naive UTC end of the window."""
    org = session.get(Organisation, campaign.organisation_id)
    if org is None:
        return None
    start, end = quiet_hours.effective_window(org, campaign)
    return quiet_hours.quiet_until(at, org.timezone, start, end)


def queue_initial(
    session: Session,
    campaign: Campaign,
    recipients_query,
    now: datetime,
    user_id: int | None,
    *,
    ignore_quiet_hours: bool = False,
):
    """Queue one ``initial`` attempt for each recipient the query selects,
    skipping opted-out numbers (recipient ``opted_out``). Returns the time the
    attempts may go (the schedule, or now) and how many were queued. Queued
    inside quiet hours, they are held at once until the window ends (the
    progress says "held" from the first second), unless ``ignore_quiet_hours``
    (the operator's audited "send now anyway")."""
    opted = set(session.exec(select(OptOut.phone_e164).where(OptOut.organisation_id == campaign.organisation_id)))
    not_before = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > now else now
    opens = None if ignore_quiet_hours else quiet_wait(session, campaign, not_before)
    queued = 0
    for recipient in session.exec(recipients_query.order_by(Recipient.id)).all():
        if recipient.phone_e164 in opted:
            timeline.record(session, recipient, "opted_out_skipped", step="opted_out", at=now, actor_user_id=user_id)
            continue
        attempt = new_attempt(
            session,
            recipient,
            "initial",
            now=now,
            not_before=opens or not_before,
            ignore_quiet_hours=ignore_quiet_hours,
            flush=False,
        )
        attempt.held_for_quiet_hours = opens is not None
        timeline.record(session, recipient, "queued", step="queued", at=now, actor_user_id=user_id)
        queued += 1
    return not_before, queued


def start_sending(
    session: Session, campaign: Campaign, user_id: int | None = None, *, ignore_quiet_hours: bool = False
) -> int:
    """Queue one ``initial`` attempt for each recipient still ``created``;
    opted-out numbers are skipped (recipient ``opted_out``). The campaign becomes
    ``sending``, or ``scheduled`` when ``scheduled_at`` is in the future.
    Returns the number of attempts queued. Raises ``SendingError`` (a
    ``ValueError``) when the campaign is not draft/paused or has no recipients."""
    total = session.exec(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign.id)).one()
    if not total and campaign.status in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
        raise SendingError("sending.error.no_recipients")
    now = utcnow()
    campaign_machine.start(campaign, now=now)  # refuses unless draft or paused
    _not_before, queued = queue_initial(
        session,
        campaign,
        select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "created"),
        now,
        user_id,
        ignore_quiet_hours=ignore_quiet_hours,
    )
    session.add(campaign)
    session.flush()
    return queued


def _held_query(session: Session, **where):
    query = select(SendAttempt).where(
        SendAttempt.status == AttemptStatus.QUEUED,
        SendAttempt.held_for_quiet_hours == True,  # noqa: E712
    )
    for name, value in where.items():
        query = query.where(getattr(SendAttempt, name) == value)
    return session.exec(query.order_by(SendAttempt.id)).all()


def release_held(session: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """ "Send now anyway": this campaign's messages held for quiet hours may go
    at once (``ignore_quiet_hours``: the dispatcher holds them no more).
    Returns how many were released; the caller audits the operator's reason."""
    now = now or utcnow()
    held = _held_query(session, campaign_id=campaign.id)
    for attempt in held:
        attempt.ignore_quiet_hours = True
        attempt.held_for_quiet_hours = False
        attempt.not_before = now
        session.add(attempt)
    session.flush()
    return len(held)


def held_until(session: Session, campaign_id: int) -> datetime | None:
    """When this campaign's held messages may leave (the earliest), or None."""
    return session.exec(
        select(func.min(SendAttempt.not_before)).where(
            SendAttempt.campaign_id == campaign_id,
            SendAttempt.status == AttemptStatus.QUEUED,
            SendAttempt.held_for_quiet_hours == True,  # noqa: E712
        )
    ).one()


def retime_held(session: Session, organisation_id: int, now: datetime | None = None) -> int:
    """After the quiet hours changed (the organisation's window or time zone,
    a campaign's override): every held message of the organisation waits for
    the window that applies now: released at once when ``now`` is outside it,
    else until its new end. Returns how many were re-timed."""
    now = now or utcnow()
    campaigns: dict[int, Campaign | None] = {}
    changed = 0
    for attempt in _held_query(session, organisation_id=organisation_id):
        if attempt.campaign_id not in campaigns:
            campaigns[attempt.campaign_id] = session.get(Campaign, attempt.campaign_id)
        campaign = campaigns[attempt.campaign_id]
        if campaign is None:
            continue
        opens = quiet_wait(session, campaign, now)
        new_not_before = opens or now
        if new_not_before != attempt.not_before:
            attempt.not_before = new_not_before
            attempt.held_for_quiet_hours = opens is not None
            session.add(attempt)
            changed += 1
    session.flush()
    return changed


def pause(session: Session, campaign: Campaign, reason: str = "") -> None:
    """Stop claiming this campaign's attempts (those in flight finish; held ones
    and reminders wait) and queueing its reminders. ``reason``:
    an i18n key when the system pauses it (an account error, a usage cap)."""
    campaign_machine.pause(campaign, now=utcnow(), reason=reason)
    session.add(campaign)
    session.flush()


def resume(session: Session, campaign: Campaign) -> None:
    """Resume a paused campaign. When the organisation's sending was stopped by
    an account error, an operator resuming any of its campaigns says the setting
    is fixed: sending goes again (if it is not fixed, the next send stops it
    again and pauses the campaigns once more)."""
    campaign_machine.resume(campaign, now=utcnow())
    session.add(campaign)
    org = session.get(Organisation, campaign.organisation_id)
    if org is not None and org.sending_paused_reason:
        org.sending_paused_reason = ""
        session.add(org)
    session.flush()


ACCOUNT_ERROR_REASON = "sending.paused.account_error"


def pause_for_account_error(
    session: Session, organisation_id: int, reason: str = ACCOUNT_ERROR_REASON
) -> list[Campaign]:
    """The SMS provider refused the organisation's account or sender (not one
    message): stop its sending (the dispatcher claims nothing while
    ``Organisation.sending_paused_reason`` is set) and pause its sending and
    scheduled campaigns, and its active ones (reminders, reissues), with
    ``reason``, shown on their pages and the dashboard. Returns the campaigns paused; a second call pauses nothing more."""
    org = session.get(Organisation, organisation_id)
    if org is None:
        return []
    org.sending_paused_reason = reason
    session.add(org)
    running = session.exec(
        select(Campaign).where(
            Campaign.organisation_id == organisation_id,
            Campaign.status.in_(campaign_machine.CAN_PAUSE),
        )
    ).all()
    for campaign in running:
        pause(session, campaign, reason=reason)
    session.flush()
    return list(running)


def cancel(session: Session, campaign: Campaign) -> int:
    """Cancel the campaign and its queued attempts (held ones and reminders
    included): nothing more leaves. Returns how many were cancelled."""
    now = utcnow()
    campaign_machine.cancel(campaign, now=now)
    cancelled = _cancel_queued_of(session, campaign, now)
    session.add(campaign)
    session.flush()
    return cancelled


def close(session: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """Close an active (or paused) campaign: its work is over, nothing more is
    sent (queued reminders and held messages are cancelled) or added. Returns
    how many queued attempts were cancelled."""
    now = now or utcnow()
    campaign_machine.close(campaign, now=now)
    cancelled = _cancel_queued_of(session, campaign, now)
    session.add(campaign)
    session.flush()
    return cancelled


def _cancel_queued_of(session: Session, campaign: Campaign, now: datetime) -> int:
    attempts = session.exec(
        select(SendAttempt).where(SendAttempt.campaign_id == campaign.id, SendAttempt.status == AttemptStatus.QUEUED)
    ).all()
    for attempt in attempts:
        attempt_machine.cancel(attempt, now=now)
        session.add(attempt)
        recipient = session.get(Recipient, attempt.recipient_id)
        if recipient is not None and recipient.status in ("created", "queued"):
            timeline.record(session, recipient, "send_cancelled", step="cancelled", at=now)
    return len(attempts)


def close_ended_campaigns(session: Session, now: datetime | None = None) -> int:
    """Close the campaigns whose configured end (``closes_at``) has come."""
    now = now or utcnow()
    campaigns = session.exec(
        select(Campaign).where(
            Campaign.status.in_(campaign_machine.CAN_CLOSE),
            Campaign.closes_at.is_not(None),
            Campaign.closes_at <= now,
        )
    ).all()
    for campaign in campaigns:
        close(session, campaign, now)
    return len(campaigns)


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
    """Campaigns ``sending`` with nothing queued or sending become ``active``."""
    now = now or utcnow()
    busy = (
        select(SendAttempt.id)
        .where(SendAttempt.campaign_id == Campaign.id, SendAttempt.status.in_(attempt_machine.PENDING))
        .exists()
    )
    campaigns = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.SENDING, ~busy)).all()
    for campaign in campaigns:
        campaign_machine.complete(campaign, now=now)
        session.add(campaign)
    return len(campaigns)


def promote_scheduled_campaigns(session: Session, now: datetime | None = None) -> int:
    now = now or utcnow()
    campaigns = session.exec(
        select(Campaign).where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now)
    ).all()
    for campaign in campaigns:
        campaign_machine.promote(campaign, now=now)
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
    attempt (``domain.attempts.apply_provider_status``) and its recipient. Late,
    duplicate and out-of-order reports never move either backwards. Returns
    True when anything changed."""
    at = at or utcnow()
    if PROVIDER_STATUS.get(provider_status) is None or attempt.status == AttemptStatus.CANCELLED:
        return False
    changed = False
    if provider_message_id and not attempt.provider_message_id:
        attempt.provider_message_id = provider_message_id
        changed = True
    before = (attempt.status, attempt.final_at)
    new = attempt_machine.apply_provider_status(attempt, provider_status, at=at, error_code=error_code)
    if (attempt.status, attempt.final_at) != before:
        changed = True
    if changed:
        session.add(attempt)
    recipient = session.get(Recipient, attempt.recipient_id)
    steps = FUNNEL_STEPS.get(new, ()) if new is not None else ()
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
    seconds). A draft or active campaign becomes ``sending`` again; a paused
    one keeps the attempts until resumed; a closed or cancelled one refuses. Opted-out
    numbers are skipped as in ``start_sending``. Returns the number queued."""
    campaign_machine.check_open(campaign)
    now = utcnow()
    _not_before, queued = queue_initial(
        session,
        campaign,
        select(Recipient).where(
            Recipient.campaign_id == campaign.id, Recipient.id.in_(recipient_ids), Recipient.status == "created"
        ),
        now,
        user_id,
    )
    if queued:
        campaign_machine.reopen(campaign, now=now)
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    return queued
