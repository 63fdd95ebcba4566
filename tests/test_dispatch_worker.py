"""The dispatcher against the simulator over real HTTP: retries only when the
provider certainly did not take the message, timeouts reconciled instead of
resent, dead workers' attempts reconciled, unknown outcomes flagged, the status
poller, scheduling, pause / resume / cancel, carriers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.domain.clock import utcnow
from smspay_app.models import Campaign, Organisation, Recipient, SendAttempt, TimelineEvent
from smspay_app.providers.sms.twilio import TwilioProvider
from smspay_app.services import sending
from smspay_app.services.sending import SendingError
from smspay_app.worker import run_dispatcher_once
from smspay_app.worker.dispatcher import Dispatcher
from tests.factories import make_campaign, make_org
from tests.helpers import free_port


def _control(live_server, **cfg):
    with live_server.client() as c:
        assert c.post("/sim/twilio/_control", json=cfg).status_code == 200


def _stats(live_server) -> dict:
    with live_server.client() as c:
        return c.get("/sim/twilio/_stats").json()


def _attempts(session) -> list[SendAttempt]:
    session.expire_all()
    return session.exec(select(SendAttempt).order_by(SendAttempt.id)).all()


def _start(session, n=3, **org_fields):
    org = make_org(session, **org_fields)
    campaign = make_campaign(session, org, recipients=n)
    sending.start_sending(session, campaign)
    session.commit()
    return campaign


async def test_throttled_429_is_retried_with_backoff_then_sent(live_server, session):
    _start(session, 3)
    _control(live_server, throttle_rate=1.0, callbacks=False)
    t0 = utcnow()
    assert await run_dispatcher_once(t0) == 3
    attempts = _attempts(session)
    assert all(a.status == "queued" and a.try_number == 2 and a.error_code == "20429" for a in attempts)
    assert all(a.not_before >= t0 + timedelta(seconds=1) for a in attempts)  # Retry-After: 1
    assert await run_dispatcher_once(t0) == 0  # backoff respected
    assert _stats(live_server)["messages"] == 0
    _control(live_server, throttle_rate=0.0)
    assert await run_dispatcher_once(t0 + timedelta(seconds=5)) == 3
    assert _stats(live_server)["messages"] == 3
    assert {a.status for a in _attempts(session)} == {"accepted"}


async def test_5xx_is_reconciled_never_resent_blindly_and_tries_stay_bounded(live_server, session, settings):
    """A 500 to a create may come after Twilio accepted it: the attempt stays
    ``sending`` until reconciled (it used to be retried at once). Reconciliation
    finding nothing counts as one more try; the tries stay bounded."""
    _start(session, 1)
    _control(live_server, error_rate=1.0, callbacks=False)  # 500 without accepting
    now = utcnow()
    assert await run_dispatcher_once(now) == 1
    (attempt,) = _attempts(session)
    assert (attempt.status, attempt.error_code, attempt.try_number) == ("sending", "20500", 1)
    assert await run_dispatcher_once(now + timedelta(seconds=1)) == 0  # lease running: nothing resent
    for _ in range(settings.sms_max_retries):
        now += timedelta(minutes=10)
        assert await run_dispatcher_once(now) == 1  # reconciled: not at Twilio, one more try
    now += timedelta(minutes=10)
    assert await run_dispatcher_once(now) == 0  # reconciled, tries used up
    (attempt,) = _attempts(session)
    assert attempt.status == "failed" and attempt.error_code == "20500"
    assert attempt.try_number == settings.sms_max_retries + 1
    assert session.get(Recipient, attempt.recipient_id).status == "failed"
    assert _stats(live_server)["messages"] == 0
    assert await run_dispatcher_once(now + timedelta(minutes=10)) == 0


async def test_500_after_twilio_accepted_is_found_by_reconciliation_and_sent_once(live_server, session):
    _start(session, 3)
    _control(live_server, accept_error_rate=1.0, callbacks=False, progress_delay_ms=600_000)  # stays queued
    now = utcnow()
    assert await run_dispatcher_once(now) == 3
    assert {a.status for a in _attempts(session)} == {"sending"}
    assert await run_dispatcher_once(now + timedelta(minutes=10)) == 0  # reconciled, nothing resent
    attempts = _attempts(session)
    assert {a.status for a in attempts} == {"accepted"} and all(a.provider_message_id for a in attempts)
    stats = _stats(live_server)
    assert stats["messages"] == 3 and stats["max_asked"] == 1
    assert set(stats["statuses"]) == {"queued"}  # found although not sent yet (no date_sent)


async def test_permanent_error_keeps_twilio_code(live_server, session):
    campaign = _start(session, 1)
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).one()
    recipient.phone_e164 = "090-bad"
    session.add(recipient)
    session.commit()
    assert await run_dispatcher_once() == 1
    (attempt,) = _attempts(session)
    assert (attempt.status, attempt.error_code) == ("failed", "21211")


async def test_connection_refused_is_retried(settings, session):
    _start(session, 1)
    dead = TwilioProvider(
        api_base=f"http://127.0.0.1:{free_port()}", account_sid="AC", auth_token="x", name="simulator"
    )
    d = Dispatcher(provider=dead)
    assert await d.run_once() == 1
    await dead.aclose()
    (attempt,) = _attempts(session)
    assert attempt.status == "queued" and attempt.try_number == 2


async def test_timeout_after_sending_is_reconciled_not_resent(live_server, session):
    _start(session, 2)
    _control(live_server, latency_ms=2500, callbacks=False)
    d = Dispatcher(lease_seconds=3)  # HTTP timeout 1 s
    now = utcnow()
    assert await d.run_once(now) == 2
    attempts = _attempts(session)
    assert all(a.status == "sending" for a in attempts)  # outcome unknown: not retried
    assert await d.run_once(now + timedelta(seconds=1)) == 0  # lease still running
    assert _stats(live_server)["messages"] == 2
    # After the lease: reconciled with the provider's list, matched on the link token.
    await d.run_once(utcnow() + timedelta(seconds=5))
    await d.aclose()
    attempts = _attempts(session)
    assert all(a.status in ("accepted", "delivered") and a.provider_message_id for a in attempts)
    stats = _stats(live_server)
    assert stats["messages"] == 2 and stats["max_asked"] == 1
    kinds = [e.kind for e in session.exec(select(TimelineEvent))]
    assert kinds.count("sms_reconciled") == 2


async def test_worker_dying_before_or_after_the_call_sends_exactly_once(live_server, session):
    _start(session, 2)
    _control(live_server, callbacks=False)
    d = Dispatcher(lease_seconds=5)
    now = utcnow()
    jobs = d._claim(now)  # committed as sending ...
    assert len(jobs) == 2
    await d.provider.send(jobs[0].request)  # ... first one sent, then the worker "dies"
    assert {a.status for a in _attempts(session)} == {"sending"}

    other = Dispatcher(lease_seconds=5)
    assert await other.run_once(now + timedelta(seconds=1)) == 0  # leases still valid: untouched
    later = now + timedelta(seconds=10)
    await other.run_once(later)  # reconcile: #1 found, #2 re-queued
    attempts = _attempts(session)
    assert attempts[0].status in ("accepted", "delivered") and attempts[0].provider_message_id
    assert attempts[1].status in ("queued", "accepted", "delivered")
    await other.run_once(later)
    await other.aclose()
    await d.aclose()
    attempts = _attempts(session)
    assert {a.status for a in attempts} <= {"accepted", "delivered"}
    found = [e.detail for e in session.exec(select(TimelineEvent).where(TimelineEvent.kind == "sms_reconciled"))]
    assert sorted('"found": true' in d for d in found) == [False, True]
    stats = _stats(live_server)
    assert stats["messages"] == 2 and stats["max_asked"] == 1 and set(stats["by_to"].values()) == {1}


async def test_outcome_unknown_when_provider_unreachable_is_flagged_and_never_resent(settings, session):
    _start(session, 1)
    dead = TwilioProvider(api_base=f"http://127.0.0.1:{free_port()}", account_sid="AC", auth_token="x")
    d = Dispatcher(provider=dead, lease_seconds=5, reconcile_give_up_seconds=20)
    now = utcnow()
    d._claim(now)  # dies before anything is recorded
    await d.run_once(now + timedelta(seconds=10))  # provider unreachable: try again later
    assert _attempts(session)[0].status == "sending"
    await d.run_once(now + timedelta(seconds=60))  # still unreachable after the give-up time
    (attempt,) = _attempts(session)
    assert attempt.status == "unknown"
    assert session.exec(select(TimelineEvent).where(TimelineEvent.kind == "sms_unknown")).one()
    assert await d.run_once(now + timedelta(hours=1)) == 0
    assert sending.sending_progress(session, attempt.campaign_id)["unknown"] == 1
    await dead.aclose()


async def test_poller_fetches_status_when_callbacks_are_lost(live_server, session, settings):
    campaign = _start(session, 2)
    _control(live_server, callbacks=False)
    now = utcnow()
    assert await run_dispatcher_once(now) == 2
    assert {a.status for a in _attempts(session)} == {"accepted"}
    await run_dispatcher_once(now + timedelta(seconds=10))  # too early to poll
    assert {a.status for a in _attempts(session)} == {"accepted"}
    await run_dispatcher_once(now + timedelta(seconds=settings.sms_status_poll_after_seconds + 1))
    assert {a.status for a in _attempts(session)} == {"delivered"}
    assert {r.status for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id))} == {
        "delivered"
    }


async def test_carrier_recorded_from_lookup_and_caps_apply(live_server, session):
    from smspay_app.providers.sms.simulator import carrier_for

    org = make_org(session)
    campaign = make_campaign(session, org, recipients=20)
    sending.start_sending(session, campaign)
    session.commit()
    _control(live_server, callbacks=False)
    await run_dispatcher_once()
    session.expire_all()
    recipients = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    assert all(r.carrier == carrier_for(r.phone_e164)[0] for r in recipients)

    # A docomo recipient's text over 660 characters is refused before sending.
    long_campaign = make_campaign(session, org, recipients=0, template="あ" * 665 + "{{link}}")
    r = Recipient(
        campaign_id=long_campaign.id, organisation_id=org.id, phone_e164=recipients[0].phone_e164, carrier="docomo"
    )
    session.add(r)
    session.commit()
    sending.start_sending(session, long_campaign)
    session.commit()
    before = _stats(live_server)["messages"]
    await run_dispatcher_once()
    attempt = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == long_campaign.id)).one()
    session.refresh(attempt)
    assert (attempt.status, attempt.error_code) == ("failed", "carrier_cap")
    assert _stats(live_server)["messages"] == before


def test_start_sending_refusals_and_states(session):
    org = make_org(session)
    empty = make_campaign(session, org, recipients=0)
    with pytest.raises(SendingError) as e:
        sending.start_sending(session, empty)
    assert e.value.key == "sending.error.no_recipients"
    campaign = make_campaign(session, org, recipients=2)
    sending.start_sending(session, campaign)
    session.commit()
    with pytest.raises(ValueError):
        sending.start_sending(session, campaign)  # already sending
    sending.pause(session, campaign)
    assert campaign.status == "paused"
    sending.resume(session, campaign)
    assert campaign.status == "sending"
    assert sending.cancel(session, campaign) == 2
    session.commit()
    assert {a.status for a in _attempts(session)} == {"cancelled"}
    assert {r.status for r in session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id))} == {
        "cancelled"
    }


async def test_paused_and_scheduled_campaigns_are_not_claimed(live_server, session):
    org = make_org(session)
    paused = make_campaign(session, org, recipients=1)
    sending.start_sending(session, paused)
    sending.pause(session, paused)
    start = datetime(2026, 6, 1, 1, 0)
    scheduled = make_campaign(session, org, recipients=2, first_phone=50, scheduled_at=start + timedelta(hours=2))
    with clock.frozen(start) as frozen:
        sending.start_sending(session, scheduled)
        session.commit()
        assert scheduled.status == "scheduled"
        assert await run_dispatcher_once() == 0
        frozen.set(start + timedelta(hours=2))
        assert await run_dispatcher_once() == 2
        session.expire_all()
        assert session.get(Campaign, scheduled.id).status in ("sending", "active")
        assert session.get(Campaign, paused.id).status == "paused"
    assert _stats(live_server)["messages"] == 2


async def test_rate_limit_caps_messages_per_second(live_server, session, monkeypatch):
    from smspay_app.settings import get_settings

    get_settings().sms_rate_per_second = 5
    now = datetime(2026, 6, 1, 3, 0)
    _control(live_server, callbacks=False)
    with clock.frozen(now):
        _start(session, 12)
        assert await run_dispatcher_once(now) == 5
        assert await run_dispatcher_once(now) == 0  # the same second: nothing more
    assert await run_dispatcher_once(now + timedelta(seconds=1, microseconds=1)) == 5


async def test_run_in_app_respects_setting_and_sends_until_cancelled(live_server, session, settings):
    import asyncio

    from smspay_app.worker import run_in_app

    await asyncio.wait_for(run_in_app(), timeout=5)  # run_worker_in_app is false in tests: returns at once
    settings.run_worker_in_app = True
    _start(session, 3)
    task = asyncio.create_task(run_in_app())
    deadline = asyncio.get_running_loop().time() + 10
    while _stats(live_server)["messages"] < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _stats(live_server)["messages"] == 3


def test_a_callback_between_the_providers_answer_and_its_record_is_never_overwritten(settings, session):
    """The provider answers, and its ``delivered`` callback commits while the
    worker records the answer: the worker reads the attempt under the write
    lock (``sending.lock_attempts``), so the attempt ends ``delivered``, not
    ``accepted`` again. The other writer is started right after the worker's
    read; without the lock it commits first and the worker's older row wins."""
    import threading
    import time

    from sqlalchemy import event

    from smspay_app.db import get_engine, session_scope
    from smspay_app.providers.sms.base import ProviderMessage
    from smspay_app.worker.dispatcher import Outcome

    _start(session, 1)
    d = Dispatcher()  # no request is made: the provider's answer is given below
    (job,) = d._claim(None)

    def deliver() -> None:
        with session_scope() as s:
            attempt = s.get(SendAttempt, job.attempt_id)
            sending.apply_provider_status(s, attempt, "delivered", provider_message_id="SM1", source="callback")

    other = threading.Thread(target=deliver)
    started: list[bool] = []
    engine = get_engine()

    def after_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM sendattempt" in statement and not started:
            started.append(True)
            other.start()
            # Give it 1.5 s to commit: with the lock it waits for the worker's commit.
            # (Sleeps, not a timed join: timed waits misbehave under the clock check's faketime.)
            for _ in range(75):
                if not other.is_alive():
                    break
                time.sleep(0.02)

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        d._record([Outcome(job, message=ProviderMessage(sid="SM1", status="queued"))], None)
    finally:
        if event.contains(engine, "after_cursor_execute", after_execute):
            event.remove(engine, "after_cursor_execute", after_execute)
    other.join(timeout=30)
    assert not other.is_alive()
    (attempt,) = _attempts(session)
    assert attempt.status == "delivered"
    assert attempt.provider_message_id == "SM1"


async def test_rotated_token_mid_send_pauses_the_campaign_and_resume_sends_the_rest_once(
    live_server, session, settings, monkeypatch
):
    """A wrong or rotated auth token (401, 20003) used to fail every recipient
    with ``sms_failed``. Now the attempts go back to the queue untouched, the
    organisation's sending stops, its campaigns are paused with the reason; after
    the operator fixes the token and resumes, everyone is sent exactly once."""
    from smspay_app.settings import get_settings

    campaign = _start(session, 30)
    other = make_campaign(session, session.get(Organisation, campaign.organisation_id), recipients=2, name="別件")
    sending.start_sending(session, other)
    session.commit()
    _control(live_server, callbacks=False)
    now = utcnow()
    d = Dispatcher(batch_size=10)
    assert await d.run_once(now, housekeeping=False) == 10
    _control(live_server, auth_token="rotated-in-console")  # someone rotates the token in Twilio's console
    assert await d.run_once(now, housekeeping=False) == 10  # refused: 401 20003
    await d.aclose()
    attempts = _attempts(session)
    assert {a.status for a in attempts} == {"accepted", "queued"}
    assert sum(a.status == "accepted" for a in attempts) == 10
    assert all(a.error_code == "" and a.try_number == 1 for a in attempts if a.status == "queued")
    assert {r.status for r in session.exec(select(Recipient))} <= {"queued", "sent"}
    assert not session.exec(select(TimelineEvent).where(TimelineEvent.kind == "sms_failed")).all()
    for c in (campaign, other):
        c = session.get(Campaign, c.id)
        assert (c.status, c.paused_reason) == ("paused", "sending.paused.account_error")
    assert await run_dispatcher_once(now + timedelta(seconds=5)) == 0  # the organisation's sending stopped
    assert _stats(live_server)["messages"] == 10

    # The operator puts the new token in the settings and presses resume.
    monkeypatch.setenv("SMSPAY_TWILIO_AUTH_TOKEN", "rotated-in-console")
    get_settings.cache_clear()
    for c in (campaign, other):
        sending.resume(session, session.get(Campaign, c.id))
    session.commit()
    assert session.get(Campaign, campaign.id).paused_reason == ""
    for _ in range(10):
        if not await run_dispatcher_once(now + timedelta(seconds=10)):
            break
    stats = _stats(live_server)
    assert stats["messages"] == 32 and stats["max_asked"] == 1
    assert {a.status for a in _attempts(session)} == {"accepted"}
    assert {r.status for r in session.exec(select(Recipient))} == {"queued"}  # callbacks off: accepted only
