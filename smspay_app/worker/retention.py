"""The retention job: erase personal data of campaigns past their
organisation's retention period (``services.retention``). Runs hourly in the
app's lifespan (``run_in_app``); ``run_once`` is what a scheduler or the
worker process calls. Safe to run in several processes at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from smspay_app.services.retention import ErasedCampaign

log = logging.getLogger("smspay.retention")

INTERVAL_SECONDS = 3600


def _erase(now: datetime | None) -> list[ErasedCampaign]:
    from smspay_app.db import get_engine, session_scope
    from smspay_app.services.retention import checkpoint, erase_due

    with session_scope() as session:
        done = erase_due(session, now)
    checkpoint(get_engine())  # committed: no erased value stays in SQLite's WAL
    return done


async def run_once(now: datetime | None = None) -> list[ErasedCampaign]:
    """One pass; the database work runs in a thread so the event loop keeps serving.
    Uploads an import never came for go too (``uploads.purge_stale_uploads``)."""
    from smspay_app.services.uploads import purge_stale_uploads

    done = await asyncio.to_thread(_erase, now)
    try:
        await asyncio.to_thread(purge_stale_uploads)
    except Exception:  # noqa: BLE001 - the erasure above is what must not fail
        log.exception("retention: purging stale uploads failed")
    for item in done:
        # Ids and counts only: no personal data in logs.
        log.info("retention: erased %d recipients of campaign %d", item.recipients, item.campaign_id)
    return done


async def run_forever(stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
    """Erase due personal data at start and every ``interval`` seconds."""
    from smspay_app.worker.loop import every

    await every(interval, run_once, stop, name="retention")
