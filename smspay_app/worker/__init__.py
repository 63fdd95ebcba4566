"""Background work: the SMS dispatcher (claim, send, reconcile), the status
poller. Runs in the app's lifespan (``run_in_app``) and as its own process
(``python -m smspay_app.worker``); any number of copies may run at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

log = logging.getLogger("smspay.worker")


async def run_dispatcher_once(now: datetime | None = None, **kwargs) -> int:
    """One pass of the SMS dispatcher only (reconcile, claim and send a batch,
    poll); returns how many messages went to the provider."""
    from smspay_app.worker.dispatcher import run_dispatcher_once as _run

    return await _run(now, **kwargs)


async def run_all(stop: asyncio.Event, *, dispatcher=None) -> None:
    """Every background job, concurrently, until ``stop`` is set: the SMS
    dispatcher, outbound webhook delivery, reminders, link expiry and data
    retention. Each
    claims its work in the database, so any number of copies may run."""
    from smspay_app.worker import expiry, outbound, reminders, retention
    from smspay_app.worker.dispatcher import Dispatcher

    dispatcher = dispatcher or Dispatcher()
    try:
        await asyncio.gather(
            dispatcher.run_forever(stop),
            outbound.run_forever(stop),
            reminders.run_forever(stop),
            expiry.run_forever(stop),
            retention.run_forever(stop),
        )
    finally:
        await asyncio.shield(dispatcher.aclose())


async def run_in_app() -> None:
    """Lifespan task for the web app (Reflex ``app.register_lifespan_task``):
    runs every job until cancelled; does nothing when
    ``settings.run_worker_in_app`` is false. Database work runs in threads, so
    the event loop keeps serving requests."""
    from smspay_app.settings import get_settings

    if not get_settings().run_worker_in_app:
        return
    try:
        await run_all(asyncio.Event())
    except asyncio.CancelledError:
        log.info("worker stopped")
        raise
