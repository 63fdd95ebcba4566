"""Record what happened to a recipient: a timeline event, and the funnel step it
proves (first timestamps kept, status never moves backwards)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from smspay_app.domain import funnel
from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, TimelineEvent
from smspay_app.services import webhooks


def record(
    session: Session,
    recipient: Recipient,
    kind: str,
    *,
    step: str | None = None,
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    actor_user_id: int | None = None,
) -> TimelineEvent:
    """Add a timeline event for ``recipient``; when ``step`` is given, also apply
    that funnel step. ``detail`` must hold no personal data."""
    at = at or utcnow()
    changed = False
    if step is not None:
        changed = funnel.apply_step(recipient, step, at)
        session.add(recipient)
    event = TimelineEvent(
        organisation_id=recipient.organisation_id,
        campaign_id=recipient.campaign_id,
        recipient_id=recipient.id,
        kind=kind,
        at=at,
        detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
        actor_user_id=actor_user_id,
    )
    session.add(event)
    # Outbound webhooks: queued in this same transaction (nothing is lost or
    # announced for an event that rolls back).
    event_type = webhooks.recipient_event_type(recipient, kind, step, changed)
    if event_type is not None:
        webhooks.enqueue_recipient_event(session, recipient, event_type, at)
    return event
