"""Status poller: asks the provider about messages that have had no final
status for ``settings.sms_status_poll_after_seconds`` (callbacks get lost), and
fills in recipients' carriers with a lookup (Lookup v2 line_type_intelligence)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import select

from smspay_app.db import session_scope
from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, SendAttempt
from smspay_app.providers.sms.base import SmsError
from smspay_app.services import connections, sending, timeline

if TYPE_CHECKING:
    from smspay_app.worker.dispatcher import Dispatcher

GIVE_UP_AFTER = timedelta(days=3)


def _due(dispatcher: Dispatcher, now: datetime, limit: int) -> list[tuple[int, str, connections.SmsSpec]]:
    after = timedelta(seconds=dispatcher.settings.sms_status_poll_after_seconds)
    with session_scope() as s:
        rows = s.exec(
            select(SendAttempt.id, SendAttempt.provider_message_id)
            .where(
                SendAttempt.status.in_(("accepted", "sent")),
                SendAttempt.provider_message_id.is_not(None),
                SendAttempt.accepted_at <= now - after,
                SendAttempt.accepted_at > now - GIVE_UP_AFTER,
                (SendAttempt.last_polled_at.is_(None)) | (SendAttempt.last_polled_at <= now - after),
            )
            .order_by(SendAttempt.accepted_at)
            .limit(limit)
        ).all()
        routes: dict[int, connections.SmsSpec] = {}
        if rows:
            # Mark them polled first so other workers skip them this round.
            for attempt in s.exec(select(SendAttempt).where(SendAttempt.id.in_([r[0] for r in rows]))):
                attempt.last_polled_at = now
                s.add(attempt)
                # Asked through the account that sent it.
                routes[attempt.id] = connections.sms_route(s, attempt=attempt, settings=dispatcher.settings)
        return [(r[0], r[1], routes[r[0]]) for r in rows]


async def poll_statuses(dispatcher: Dispatcher, now: datetime | None = None, limit: int = 100) -> int:
    now = now or utcnow()
    due = await asyncio.to_thread(_due, dispatcher, now, limit)
    if not due:
        return 0
    semaphore = asyncio.Semaphore(16)

    async def fetch(attempt_id: int, sid: str, spec: connections.SmsSpec):
        async with semaphore:
            try:
                return attempt_id, await dispatcher.providers.get(spec).fetch(sid)
            except SmsError:
                return attempt_id, None

    results = await asyncio.gather(*(fetch(a, sid, spec) for a, sid, spec in due))

    def apply() -> None:
        with session_scope() as s:
            for attempt_id, message in results:
                if message is None:
                    continue
                attempt = s.get(SendAttempt, attempt_id)
                if attempt is not None:
                    sending.apply_provider_status(
                        s, attempt, message.status, error_code=message.error_code, at=now, source="poll"
                    )
                    if message.carrier:
                        from smspay_app.worker.dispatcher import record_provider_carrier

                        record_provider_carrier(s, s.get(Recipient, attempt.recipient_id), message, now)

    await asyncio.to_thread(apply)
    return len(due)


def _needs_carrier(dispatcher: Dispatcher, limit: int) -> list[tuple[int, str]]:
    with session_scope() as s:
        rows = s.exec(
            select(Recipient.id, Recipient.phone_e164)
            .join(SendAttempt, SendAttempt.recipient_id == Recipient.id)
            .where(
                Recipient.carrier == "",
                SendAttempt.status.in_(("accepted", "sent", "delivered")),
                # Looked up through the environment's account only for what went
                # through it: an organisation's own connection reports the carrier
                # itself (Karaden) or is not ours to spend lookups on.
                SendAttempt.sms_connection_id.is_(None),
            )
            .distinct()
            .limit(limit)
        ).all()
        return [(r[0], r[1]) for r in rows]


async def refresh_carriers(dispatcher: Dispatcher, now: datetime | None = None, limit: int = 50) -> int:
    """Look up the carrier of recipients whose SMS went out and whose carrier is
    not known yet (after number portability the lookup is the truth)."""
    todo = await asyncio.to_thread(_needs_carrier, dispatcher, limit)
    if not todo:
        return 0
    found: dict[int, str] = {}
    for recipient_id, phone in todo:
        try:
            info = await dispatcher.provider.lookup_carrier(phone)
        except SmsError:
            continue
        found[recipient_id] = info.carrier if info else "unknown"
    if found:
        await asyncio.to_thread(record_carriers, dispatcher, found, now)
    return len(found)


def record_carriers(dispatcher: Dispatcher, found: dict[int, str], now: datetime | None = None) -> None:
    now = now or utcnow()
    with session_scope() as s:
        for recipient_id, carrier in found.items():
            recipient = s.get(Recipient, recipient_id)
            if recipient is None or recipient.carrier == carrier:
                continue
            previous = recipient.carrier
            recipient.carrier = carrier
            s.add(recipient)
            timeline.record(s, recipient, "carrier", at=now, detail={"carrier": carrier, "previous": previous})
