"""The campaign's lifecycle: a pure state machine (no I/O).

``draft -> (scheduled ->) sending -> active -> closed``, ``paused`` in between,
and ``cancelled`` from every state where something can still go out.

- ``sending``: the first SMS are being sent.
- ``active``: every first SMS is done, but the campaign still works: reminders,
  reissues, resends and late additions (the REST API's add-and-send) go out.
- ``closed``: the operator closed it, or its configured end (``closes_at``)
  came: nothing more is sent or added. Final.
- ``paused`` (from scheduled, sending or active): nothing is claimed and no
  reminder is queued; held messages wait. ``resume`` continues.
- ``cancelled``: final; queued attempts were cancelled, nothing more is sent.

Each function changes the campaign object it is given and raises
``CampaignRefused`` (an i18n key under ``sending.error.*``) when its status
does not allow the transition; the services persist the object."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from smspay_app.domain.errors import Refused


class CampaignStatus(StrEnum):
    # Being written: recipients can be imported, nothing is queued.
    DRAFT = "draft"
    # Queued for a future time; promoted to ``sending`` when it comes.
    SCHEDULED = "scheduled"
    # The dispatcher claims its attempts.
    SENDING = "sending"
    # Nothing is claimed or queued (attempts in flight finish); ``resume`` continues.
    PAUSED = "paused"
    # Every first SMS is done; follow-ups (reminders, reissues, late additions) still go out.
    ACTIVE = "active"
    # Final: closed by the operator or at its configured end; nothing more is sent.
    CLOSED = "closed"
    # Final: queued attempts were cancelled, nothing more is sent.
    CANCELLED = "cancelled"


C = CampaignStatus

# Campaign statuses whose follow-up attempts (reissue, resend, reminder) the
# dispatcher claims and the reminder scheduler queues.
FOLLOW_UPS_SENT: tuple[CampaignStatus, ...] = (C.SENDING, C.ACTIVE)
# Statuses in which something can still go out: pause (where running) and
# cancel are offered in all of them.
CAN_PAUSE: tuple[CampaignStatus, ...] = (C.SCHEDULED, C.SENDING, C.ACTIVE)
CAN_CANCEL: tuple[CampaignStatus, ...] = (C.DRAFT, C.SCHEDULED, C.SENDING, C.PAUSED, C.ACTIVE)
CAN_CLOSE: tuple[CampaignStatus, ...] = (C.ACTIVE, C.PAUSED)
# Final: nothing is sent or added any more.
ENDED: tuple[CampaignStatus, ...] = (C.CLOSED, C.CANCELLED)


class CampaignRefused(Refused, ValueError):
    """A campaign transition its status forbids: ``key`` is ``sending.error.*``."""


class HasCampaign(Protocol):
    status: str
    scheduled_at: datetime | None
    send_started_at: datetime | None
    completed_at: datetime | None
    closes_at: datetime | None
    updated_at: datetime
    paused_reason: str


def _running(campaign: HasCampaign, now: datetime) -> CampaignStatus:
    return C.SCHEDULED if campaign.scheduled_at and campaign.scheduled_at > now else C.SENDING


def start(campaign: HasCampaign, *, now: datetime) -> None:
    """Queue the campaign: ``sending``, or ``scheduled`` for a future
    ``scheduled_at``. Only from ``draft`` or ``paused``."""
    if campaign.status not in (C.DRAFT, C.PAUSED):
        raise CampaignRefused("sending.error.bad_status", status=campaign.status)
    campaign.status = _running(campaign, now)
    campaign.send_started_at = campaign.send_started_at or now
    campaign.updated_at = now


def reopen(campaign: HasCampaign, *, now: datetime) -> None:
    """New recipients were queued into it: a ``draft`` or ``active`` campaign
    sends again (a paused one keeps them until resumed). Refused once ended."""
    check_open(campaign)
    if campaign.status in (C.DRAFT, C.ACTIVE):
        campaign.status = _running(campaign, now)
        campaign.send_started_at = campaign.send_started_at or now
        campaign.completed_at = None
    campaign.updated_at = now


def check_open(campaign: HasCampaign) -> None:
    """Refuse new recipients or sends into a closed or cancelled campaign."""
    if campaign.status in ENDED:
        raise CampaignRefused("sending.error.bad_status", status=campaign.status)


def promote(campaign: HasCampaign, *, now: datetime) -> bool:
    """A ``scheduled`` campaign whose time has come starts ``sending``."""
    if campaign.status != C.SCHEDULED or (campaign.scheduled_at and campaign.scheduled_at > now):
        return False
    campaign.status = C.SENDING
    campaign.updated_at = now
    return True


def pause(campaign: HasCampaign, *, now: datetime, reason: str = "") -> None:
    """Stop sending (scheduled, sending or active): nothing is claimed, no
    reminder is queued. ``reason`` is an i18n key saying why the system paused
    it ("" when an operator did); shown on the campaign page and dashboard,
    cleared by resume."""
    if campaign.status not in CAN_PAUSE:
        raise CampaignRefused("sending.error.cannot_pause")
    campaign.status = C.PAUSED
    campaign.paused_reason = reason
    campaign.updated_at = now


def resume(campaign: HasCampaign, *, now: datetime) -> None:
    """Back to sending (or scheduled); a campaign with nothing left of its
    first send becomes ``active`` again at the next ``complete``."""
    if campaign.status != C.PAUSED:
        raise CampaignRefused("sending.error.not_paused")
    campaign.status = _running(campaign, now)
    campaign.paused_reason = ""
    campaign.updated_at = now


def complete(campaign: HasCampaign, *, now: datetime) -> bool:
    """A ``sending`` campaign with nothing left to send becomes ``active``
    (follow-ups continue until it is closed)."""
    if campaign.status != C.SENDING:
        return False
    campaign.status = C.ACTIVE
    campaign.completed_at = campaign.completed_at or now
    campaign.updated_at = now
    return True


def due_to_close(campaign: HasCampaign, *, now: datetime) -> bool:
    """Its configured end (``closes_at``) has come and it can be closed."""
    return campaign.status in CAN_CLOSE and campaign.closes_at is not None and campaign.closes_at <= now


def set_end(campaign: HasCampaign, closes_at: datetime | None, *, now: datetime) -> None:
    """Configure when the campaign closes (None: only the operator closes it).
    Refused once it has ended, or for a moment already past."""
    if campaign.status in ENDED:
        raise CampaignRefused("sending.error.bad_status", status=campaign.status)
    if closes_at is not None and closes_at <= now:
        raise CampaignRefused("sending.error.end_past")
    campaign.closes_at = closes_at
    campaign.updated_at = now


def close(campaign: HasCampaign, *, now: datetime) -> None:
    """The desk's work is over (by the operator, or at ``closes_at``): an
    ``active`` or ``paused`` campaign is ``closed``; nothing more goes out."""
    if campaign.status not in CAN_CLOSE:
        raise CampaignRefused("sending.error.cannot_close", status=campaign.status)
    campaign.status = C.CLOSED
    campaign.paused_reason = ""
    campaign.completed_at = campaign.completed_at or now
    campaign.updated_at = now


def cancel(campaign: HasCampaign, *, now: datetime) -> None:
    """Stop everything still to go out; refused once closed or cancelled."""
    if campaign.status not in CAN_CANCEL:
        raise CampaignRefused("sending.error.cannot_cancel")
    campaign.status = C.CANCELLED
    campaign.completed_at = now
    campaign.updated_at = now
