"""The campaign's sending lifecycle: a pure state machine (no I/O).

``draft -> (scheduled ->) sending -> completed``, ``paused`` in between, and
``cancelled`` from anywhere but the end. A campaign that is ``completed`` opens
again when new recipients are queued into it (the REST API's add-and-send).

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
    # Nothing new is claimed (attempts in flight finish); ``resume`` continues.
    PAUSED = "paused"
    # Every attempt is done; follow-ups (reminders, reissues) still go out.
    COMPLETED = "completed"
    # Final: queued attempts were cancelled, nothing more is sent.
    CANCELLED = "cancelled"


C = CampaignStatus

# Campaign statuses whose follow-up attempts (reissue, resend, reminder) the
# dispatcher claims.
FOLLOW_UPS_SENT: tuple[CampaignStatus, ...] = (C.SENDING, C.COMPLETED)


class CampaignRefused(Refused, ValueError):
    """A campaign transition its status forbids: ``key`` is ``sending.error.*``."""


class HasCampaign(Protocol):
    status: str
    scheduled_at: datetime | None
    send_started_at: datetime | None
    completed_at: datetime | None
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
    """New recipients were queued into it: a ``draft`` or ``completed``
    campaign sends again (a paused one keeps them until resumed). Refused once
    cancelled."""
    if campaign.status == C.CANCELLED:
        raise CampaignRefused("sending.error.bad_status", status=campaign.status)
    if campaign.status in (C.DRAFT, C.COMPLETED):
        campaign.status = _running(campaign, now)
        campaign.send_started_at = campaign.send_started_at or now
        campaign.completed_at = None
    campaign.updated_at = now


def check_open(campaign: HasCampaign) -> None:
    """Refuse new recipients or sends into a cancelled campaign."""
    if campaign.status == C.CANCELLED:
        raise CampaignRefused("sending.error.bad_status", status=campaign.status)


def promote(campaign: HasCampaign, *, now: datetime) -> bool:
    """A ``scheduled`` campaign whose time has come starts ``sending``."""
    if campaign.status != C.SCHEDULED or (campaign.scheduled_at and campaign.scheduled_at > now):
        return False
    campaign.status = C.SENDING
    campaign.updated_at = now
    return True


def pause(campaign: HasCampaign, *, now: datetime, reason: str = "") -> None:
    """``reason`` is an i18n key saying why the system paused it ("" when an
    operator did); shown on the campaign page and dashboard, cleared by resume."""
    if campaign.status not in (C.SENDING, C.SCHEDULED):
        raise CampaignRefused("sending.error.cannot_pause")
    campaign.status = C.PAUSED
    campaign.paused_reason = reason
    campaign.updated_at = now


def resume(campaign: HasCampaign, *, now: datetime) -> None:
    if campaign.status != C.PAUSED:
        raise CampaignRefused("sending.error.not_paused")
    campaign.status = _running(campaign, now)
    campaign.paused_reason = ""
    campaign.updated_at = now


def complete(campaign: HasCampaign, *, now: datetime) -> bool:
    """A ``sending`` campaign with nothing left to send is ``completed``."""
    if campaign.status != C.SENDING:
        return False
    campaign.status = C.COMPLETED
    campaign.completed_at = now
    campaign.updated_at = now
    return True


def cancel(campaign: HasCampaign, *, now: datetime) -> None:
    if campaign.status in (C.COMPLETED, C.CANCELLED):
        raise CampaignRefused("sending.error.cannot_cancel")
    campaign.status = C.CANCELLED
    campaign.completed_at = now
    campaign.updated_at = now
