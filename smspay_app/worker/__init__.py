"""Background work: the SMS dispatcher (claim, send, reconcile), the status
poller. Runs in the app's lifespan (``run_in_app``) and as its own process
(``python -m smspay_app.worker``); any number of copies may run at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

log = logging.getLogger("smspay.worker")


async def run_once(now: datetime | None = None, **kwargs) -> int:
    """One pass (reconcile, claim and send a batch, poll); returns how many
    messages went to the provider."""
    from smspay_app.worker.dispatcher import run_once as _run_once

    return await _run_once(now, **kwargs)


async def run_in_app() -> None:
    """Lifespan task for the web app (Reflex ``app.register_lifespan_task``):
    runs the dispatcher until cancelled; does nothing when
    ``settings.run_worker_in_app`` is false. Database work runs in threads
    (``asyncio.to_thread``), so the event loop keeps serving requests."""
    from smspay_app.settings import get_settings
    from smspay_app.worker.dispatcher import Dispatcher

    if not get_settings().run_worker_in_app:
        return
    dispatcher = Dispatcher()
    try:
        await dispatcher.run_forever()
    except asyncio.CancelledError:
        log.info("worker stopped")
        raise
    finally:
        await asyncio.shield(dispatcher.aclose())
