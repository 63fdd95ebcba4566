"""Fault test: the worker process (``python -m smspay_app.worker``) is killed
with SIGKILL at random moments, many times, and restarted each time, against
the simulator running as its own process. In the end every recipient was asked
for exactly once, or its attempt is flagged ``unknown``: none twice, none missing.

The default is the issue's size: 50 kills during a 2,000-message send. The
provider rate limit (60/s, enforced through the database across restarts)
keeps the send going long enough for every kill to land mid-send, on a fast
machine too; ``SMSPAY_FAULT_MESSAGES`` / ``_KILLS`` / ``_SEED`` change it.

The simulator also answers 500 *after accepting* a share of the messages
(``SMSPAY_FAULT_ACCEPT_ERROR_RATE``, default 10 %): Twilio has no idempotency
key, so such an answer must lead to reconciliation, never to a second send."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlmodel import Session, select

from smspay_app.db import get_engine
from smspay_app.models import Recipient, SendAttempt, TimelineEvent
from smspay_app.services import sending
from smspay_app.settings import PROJECT_ROOT
from tests.factories import make_campaign, make_org
from tests.helpers import add_karaden_connection, start_karaden_simulator, start_simulator, worker_env

MESSAGES = int(os.environ.get("SMSPAY_FAULT_MESSAGES", "2000"))
KILLS = int(os.environ.get("SMSPAY_FAULT_KILLS", "50"))
RATE_PER_SECOND = os.environ.get("SMSPAY_FAULT_RATE", "60")
ACCEPT_ERROR_RATE = float(os.environ.get("SMSPAY_FAULT_ACCEPT_ERROR_RATE", "0.1"))


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smspay_app.worker",
            "--batch-size",
            "8",
            "--lease-seconds",
            "4",
            "--log-level",
            "WARNING",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )


def _open_count() -> int:
    with Session(get_engine()) as s:
        return len(s.exec(select(SendAttempt.id).where(SendAttempt.status.in_(("queued", "sending")))).all())


@pytest.mark.parametrize("provider", ["twilio-simulator", "karaden-simulator"])
def test_sigkilled_workers_and_500_after_accept_never_send_twice_or_lose_a_message(settings, session, provider):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=MESSAGES)
    if provider == "karaden-simulator":
        # The organisation's own Karaden connection; the environment's account is not used.
        sim, sim_base = start_karaden_simulator(settings)
        add_karaden_connection(session, org, settings, sim_base)
    else:
        sim, sim_base = start_simulator(settings)
    sending.start_sending(session, campaign)
    session.commit()
    rng = random.Random(int(os.environ.get("SMSPAY_FAULT_SEED", "4")))
    env = worker_env(settings, sim_base, rate_per_second=RATE_PER_SECOND)
    httpx.post(
        sim_base + "/_control",
        json={"callbacks": False, "latency_ms": 2, "accept_error_rate": ACCEPT_ERROR_RATE, "seed": 11},
    )
    kills = 0
    try:
        while kills < KILLS and _open_count() > 0:
            worker = start_worker(env)
            time.sleep(rng.uniform(0.4, 1.6))  # import takes ~0.5 s: some die early, most mid-batch
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
        # Let one worker finish the job (reconciling what the dead ones left behind).
        worker = start_worker(env)
        started = time.monotonic()
        deadline = started + 120
        while _open_count() > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))  # let it get past start-up
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0  # SIGTERM: clean exit
        stats = httpx.get(sim_base + "/_stats").json()
    finally:
        sim.kill()
        sim.wait()

    assert kills == KILLS  # every kill landed while messages were still open
    session.expire_all()
    if provider == "karaden-simulator":  # Karaden counts domestic numbers
        stats["by_to"] = {"+81" + k[1:]: v for k, v in stats["by_to"].items()}
    phones = {r.id: r.phone_e164 for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id))}
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    assert len(attempts) == MESSAGES
    assert max(stats["by_to"].values()) == 1, "a recipient was sent twice"
    assert stats["max_asked"] == 1
    for a in attempts:
        asked = stats["by_to"].get(phones[a.recipient_id], 0)
        if a.status == "unknown":
            assert asked <= 1
        else:
            assert a.status in ("accepted", "sent", "delivered"), a.status
            assert asked == 1 and a.provider_message_id
    unknown = sum(a.status == "unknown" for a in attempts)
    reconciled = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "sms_outcome_pending")).all()
    print(
        f"\n{MESSAGES} messages, {kills} SIGKILLs, 500-after-accept rate {ACCEPT_ERROR_RATE}: "
        f"sent {stats['messages']}, 5xx/timeouts reconciled {len(reconciled)}, unknown {unknown}, "
        f"max asked per recipient {max(stats['by_to'].values())}"
    )
