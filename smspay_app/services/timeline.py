"""Record what happened to a recipient: a timeline event, and the funnel step it
proves (first timestamps kept, status never moves backwards)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from smspay_app.domain import funnel
from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, TimelineEvent
from smspay_app.services import webhooks

# Every kind of timeline event the code writes (``record`` refuses any other);
# each has a label ``ops.event.<kind>`` in ja and en (tests/test_timeline_kinds.py).
TIMELINE_KINDS: tuple[str, ...] = (
    # import and sending
    "imported",
    "queued",
    "opted_out_skipped",
    "send_cancelled",
    "sms_held_quiet_hours",
    "sms_retry",
    "sms_outcome_pending",
    "sms_accepted",
    "sms_sent",
    "sms_delivered",
    "sms_undelivered",
    "sms_failed",
    "sms_cancelled",
    "sms_reconciled",
    "sms_unknown",
    "carrier",
    "reminder_queued",
    "reminder_sent",
    # the recipient's journey
    "preview",
    "visit",
    "click",
    "verify_failed",
    "verified",
    "locked",
    "otp_sent",
    "otp_failed",
    "read",
    "link_expired",
    # payments
    "checkout_started",
    "payment_processing",
    "payment_failed",
    "payment_expired",
    "payment_mismatch",
    "paid",
    "payment_duplicate",
    "payment_refunded",
    "voucher_sms_sent",
    # replies and opt-outs
    "sms_reply",
    "opted_out",
    "opt_out_confirmed",
    # recipient actions (services.actions), whoever the actor: staff or an API key
    "staff_reissue",
    "staff_resend",
    "staff_extend",
    "staff_unlock",
    "staff_cancel",
    "staff_mark_paid",
    "staff_record_partial_payment",
    "staff_refund",
)
# Kinds older rows may hold but nothing writes any more (still labelled):
# ``reminder`` (early reminders), ``link_reissued`` and ``cancelled_by_api``
# (the REST API's reissue and cancel before they became ``staff_reissue`` and
# ``staff_cancel``).
LEGACY_KINDS: tuple[str, ...] = ("reminder", "link_reissued", "cancelled_by_api")


# session.info key: the rows ``record`` holds back inside ``batch`` (see there).
_BATCH = "timeline_batch"

# The one insert of timeline rows given as dicts (``batch``, the landing's
# visits in ``journey.record_visits``): Core, built once. An ORM-enabled
# ``insert(TimelineEvent)`` with a list of dicts goes through the ORM's bulk
# path (a flush first, then per-row mapping), which cost several times the
# database's own work (issue 16, item 4).
EVENT_INSERT = insert(TimelineEvent.__table__)


@contextmanager
def batch(session: Session) -> Iterator[None]:
    """Inside the block, ``record`` keeps the events' rows and they are inserted
    in one ``executemany`` of ``EVENT_INSERT`` when the block ends (the
    dispatcher records a whole batch of SMS outcomes: building one ORM object
    per event cost about a third of its recording time). Funnel steps and
    webhooks still happen at once; only a query for the block's own events
    would not see them before the end."""
    if _BATCH in session.info:
        yield
        return
    rows: list[dict[str, Any]] = []
    session.info[_BATCH] = rows
    try:
        yield
        if rows:
            session.connection().execute(EVENT_INSERT, rows)
    finally:
        session.info.pop(_BATCH, None)


def record(
    session: Session,
    recipient: Recipient,
    kind: str,
    *,
    step: str | None = None,
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    actor_user_id: int | None = None,
) -> None:
    """Add a timeline event for ``recipient``; when ``step`` is given, also apply
    that funnel step. ``detail`` must hold no personal data; ``kind`` is one of
    ``TIMELINE_KINDS``. Inside ``batch`` the row is inserted at the block's end."""
    assert kind in TIMELINE_KINDS, f"unregistered timeline kind: {kind}"
    at = at or utcnow()
    changed = False
    if step is not None:
        changed = funnel.apply_step(recipient, step, at)
        session.add(recipient)
    row = {
        "organisation_id": recipient.organisation_id,
        "campaign_id": recipient.campaign_id,
        "recipient_id": recipient.id,
        "kind": kind,
        "at": at,
        "detail": json.dumps(detail or {}, ensure_ascii=False, default=str),
        "actor_user_id": actor_user_id,
    }
    held = session.info.get(_BATCH)
    if held is not None:
        held.append(row)
    else:
        session.add(TimelineEvent(**row))
    # Outbound webhooks: queued in this same transaction (nothing is lost or
    # announced for an event that rolls back).
    event_type = webhooks.recipient_event_type(recipient, kind, step, changed)
    if event_type is not None:
        webhooks.enqueue_recipient_event(session, recipient, event_type, at)
