"""The send attempt's lifecycle: a pure state machine (no I/O), like ``funnel``.

``queued -> sending -> accepted -> sent -> delivered | undelivered | failed``,
with ``unknown`` (a lost outcome, flagged for the operator, never resent
automatically) and ``cancelled`` (never sent). A worker *claims* a queued
attempt (``sending`` is committed before the provider call), then the outcome
either *accepts* it, *releases* it for a retry (back to ``queued``), *fails* it
or *flags* it unknown. Provider status reports (callbacks, polls,
reconciliation) only ever move an attempt forward (``RANK``), whatever order
they arrive in.

Every function here changes the attempt object it is given (any object with the
``SendAttempt`` columns) and nothing else; the services and the worker call
them and persist the object. The one exception, documented where it is, is the
dispatcher's claim: a conditional bulk ``UPDATE ... WHERE status='queued'`` is
what makes the claim safe between concurrent workers, so it writes
``AttemptStatus.SENDING`` in SQL (``claim_values``) instead of per object."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from smspay_app.domain.errors import Refused


class AttemptStatus(StrEnum):
    # Waiting to be claimed: for its schedule, quiet hours, the rate limit or a retry backoff.
    QUEUED = "queued"
    # Claimed by a worker under a lease; committed before the provider is called.
    SENDING = "sending"
    # The provider took it (it has a provider message id).
    ACCEPTED = "accepted"
    # The provider handed it to the carrier.
    SENT = "sent"
    # Final: the handset received it.
    DELIVERED = "delivered"
    # Final: the carrier could not deliver it.
    UNDELIVERED = "undelivered"
    # Final: refused (by the provider, the template or the carrier cap).
    FAILED = "failed"
    # The worker died and the provider could not tell: flagged, never resent automatically.
    UNKNOWN = "unknown"
    # Final: never sent (a staff action, an opt-out, a cancelled campaign, a paid recipient).
    CANCELLED = "cancelled"


S = AttemptStatus

# Waiting or in flight: a recipient with such an attempt has a message coming.
PENDING: tuple[AttemptStatus, ...] = (S.QUEUED, S.SENDING)
FINAL: tuple[AttemptStatus, ...] = (S.DELIVERED, S.UNDELIVERED, S.FAILED, S.CANCELLED)

# Forward order of the statuses a provider report can prove; final statuses
# never move except ``delivered`` winning over a failure report.
RANK: dict[str, float] = {
    S.QUEUED: 0,
    S.SENDING: 1,
    S.UNKNOWN: 1.5,
    S.ACCEPTED: 2,
    S.SENT: 3,
    S.UNDELIVERED: 4,
    S.FAILED: 4,
    S.DELIVERED: 5,
}

# Twilio message status -> our attempt status.
PROVIDER_STATUS: dict[str, AttemptStatus] = {
    "accepted": S.ACCEPTED,
    "scheduled": S.ACCEPTED,
    "queued": S.ACCEPTED,
    "sending": S.ACCEPTED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "read": S.DELIVERED,
}


class AttemptRefused(Refused, ValueError):
    """A transition the attempt's status does not allow (``sending.error.*``)."""


class HasAttempt(Protocol):
    status: str
    lease_owner: str | None
    lease_expires_at: datetime | None
    sending_at: datetime | None
    accepted_at: datetime | None
    final_at: datetime | None
    not_before: datetime
    error_code: str
    error_message: str
    held_for_quiet_hours: bool
    try_number: int


def claim_values(owner: str, lease_until: datetime, now: datetime) -> dict[str, Any]:
    """The columns a claim sets, for the dispatcher's conditional bulk UPDATE
    (``WHERE status='queued'``: only the worker whose UPDATE switched the row
    owns it). This is the claim transition ``queued -> sending`` done in SQL."""
    return {"status": S.SENDING.value, "lease_owner": owner, "lease_expires_at": lease_until, "sending_at": now}


def _clear_lease(attempt: HasAttempt) -> None:
    attempt.lease_owner = None
    attempt.lease_expires_at = None


def release(attempt: HasAttempt, *, not_before: datetime | None = None) -> None:
    """``sending`` (or ``unknown``) back to ``queued``: the provider certainly
    did not take it (a retry, or reconciliation found nothing)."""
    attempt.status = S.QUEUED
    _clear_lease(attempt)
    attempt.sending_at = None
    if not_before is not None:
        attempt.not_before = not_before


def retry(attempt: HasAttempt, *, not_before: datetime) -> None:
    """Released for another try after a transient error (backoff)."""
    release(attempt, not_before=not_before)
    attempt.try_number += 1


def hold(attempt: HasAttempt, *, until: datetime) -> None:
    """Back to ``queued`` until quiet hours end."""
    release(attempt, not_before=until)
    attempt.held_for_quiet_hours = True


def accept(attempt: HasAttempt, *, now: datetime) -> bool:
    """The provider answered with a message id. From ``sending``, ``unknown``
    or ``queued`` (a reconciler found nothing yet and queued it again; the
    provider's answer proves it was taken, so it must not go out again) to
    ``accepted``. Returns False when the attempt had already moved on."""
    if attempt.status not in (S.SENDING, S.UNKNOWN, S.QUEUED):
        return False
    attempt.status = S.ACCEPTED
    attempt.accepted_at = attempt.accepted_at or now
    _clear_lease(attempt)
    attempt.error_code = ""
    attempt.error_message = ""
    return True


def fail(attempt: HasAttempt, *, now: datetime, code: str, message: str) -> None:
    """Final ``failed``: the provider refused it, or it could not be rendered."""
    attempt.status = S.FAILED
    _clear_lease(attempt)
    attempt.final_at = now
    attempt.error_code = code[:64]
    attempt.error_message = message[:500]


def flag_unknown(attempt: HasAttempt, *, reason: str) -> None:
    """The outcome could not be established: flagged, never resent automatically."""
    attempt.status = S.UNKNOWN
    _clear_lease(attempt)
    attempt.error_code = "unknown_outcome"
    attempt.error_message = reason[:500]


def cancel(attempt: HasAttempt, *, now: datetime) -> None:
    """A queued (or just claimed, not yet sent) attempt will never be sent.
    Refused once the provider may have it."""
    if attempt.status not in PENDING:
        raise AttemptRefused("sending.error.attempt_not_pending", status=attempt.status)
    attempt.status = S.CANCELLED
    _clear_lease(attempt)
    attempt.sending_at = None  # never went out (a claimed one is dropped before the call)
    attempt.final_at = now


def apply_provider_status(
    attempt: HasAttempt, provider_status: str, *, at: datetime, error_code: str = ""
) -> AttemptStatus | None:
    """Apply a provider report to the attempt. Late, duplicate and out-of-order
    reports never move it backwards; a cancelled attempt never moves. Returns
    the attempt status the report stands for (None when unknown to us or the
    attempt is cancelled); the attempt changed when its status or
    ``final_at`` differ afterwards."""
    new = PROVIDER_STATUS.get(provider_status)
    if new is None or attempt.status == S.CANCELLED:
        return None
    current = attempt.status
    if RANK[new] > RANK.get(current, 0):
        attempt.status = new
        if current in (S.SENDING, S.UNKNOWN):
            _clear_lease(attempt)
        if attempt.accepted_at is None:
            attempt.accepted_at = at
        if new in FINAL:
            attempt.final_at = at
        if error_code and new in (S.FAILED, S.UNDELIVERED):
            attempt.error_code = error_code
    elif new == current and new in FINAL and attempt.final_at is not None and at < attempt.final_at:
        attempt.final_at = at  # an earlier report of the same final status arrived late
    return new
