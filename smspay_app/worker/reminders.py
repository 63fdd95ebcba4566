"""The reminder scheduler: queues due reminders (``services.reminders``) for
the dispatcher to send. Safe to run as any number of copies at once (each
reminder has a unique idempotency key). Runs in the app's lifespan
(``run_in_app``) and can be folded into ``python -m smspay_app.worker``."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

log = logging.getLogger("smspay.reminders")

INTERVAL_SECONDS = 30.0


def _queue(now: datetime | None) -> int:
    from smspay_app.db import session_scope
    from smspay_app.services import reminders

    with session_scope() as session:
        return reminders.queue_due(session, now)


async def run_once(now: datetime | None = None) -> int:
    """One pass; returns how many reminders were queued."""
    return await asyncio.to_thread(_queue, now)


async def run_forever(stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
    """Queue due reminders every ``interval`` seconds until ``stop`` is set."""
    from smspay_app.worker.loop import every

    await every(interval, run_once, stop, name="reminders")
