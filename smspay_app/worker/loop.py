"""One loop shape for the periodic background jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("smspay.worker")


async def every(
    interval: float,
    job: Callable[[], Awaitable[Any]],
    stop: asyncio.Event,
    *,
    name: str,
    repeat_when_busy: bool = False,
) -> None:
    """Run ``job`` now and then every ``interval`` seconds until ``stop`` is set.
    A failing pass is logged and retried at the next interval; with
    ``repeat_when_busy`` a pass that did work is followed at once by another."""
    while not stop.is_set():
        try:
            result = await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the job alive; the next pass retries
            log.exception("%s pass failed", name)
            result = None
        if repeat_when_busy and result:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
