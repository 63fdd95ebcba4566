"""Background job: mark recipients whose link has expired (``expired`` step)."""

from __future__ import annotations

import asyncio
from datetime import datetime

INTERVAL_SECONDS = 60.0


def _expire(now: datetime | None) -> int:
    from smspay_app.db import session_scope
    from smspay_app.services.links import expire_due

    total = 0
    with session_scope() as session:
        while marked := expire_due(session, now):
            total += marked
    return total


async def run_once(now: datetime | None = None) -> int:
    """One pass (database work in a thread); returns how many were marked."""
    return await asyncio.to_thread(_expire, now)


async def run_forever(stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
    from smspay_app.worker.loop import every

    await every(interval, run_once, stop, name="link expiry")
