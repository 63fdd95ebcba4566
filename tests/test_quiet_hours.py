"""Quiet hours: pure window arithmetic, and the dispatcher holding messages at
21:00 and sending them after 08:00 in the organisation's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.domain.quiet_hours import quiet_until
from smspay_app.models import Recipient, SendAttempt
from smspay_app.services import sending
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_campaign, make_org

# 2026-11-20 21:00 in Tokyo (UTC+9) is 12:00 UTC.
JST_2100 = datetime(2026, 11, 20, 12, 0)
JST_0800_NEXT = datetime(2026, 11, 20, 23, 0)


def test_window_wrapping_midnight():
    tz = "Asia/Tokyo"
    assert quiet_until(JST_2100 - timedelta(minutes=1), tz, "21:00", "08:00") is None
    assert quiet_until(JST_2100, tz, "21:00", "08:00") == JST_0800_NEXT
    assert quiet_until(datetime(2026, 11, 20, 18, 0), tz, "21:00", "08:00") == JST_0800_NEXT  # 03:00 JST
    assert quiet_until(JST_0800_NEXT, tz, "21:00", "08:00") is None
    assert quiet_until(JST_2100, tz, "00:00", "00:00") is None  # no quiet hours
    assert quiet_until(JST_2100, tz, None, "08:00") is None


def test_window_within_a_day_and_other_zone():
    # 12:00-13:00 lunch break in New York (UTC-5 in November): 17:30 UTC is 12:30.
    assert quiet_until(datetime(2026, 11, 20, 17, 30), "America/New_York", "12:00", "13:00") == datetime(
        2026, 11, 20, 18, 0
    )
    assert quiet_until(datetime(2026, 11, 20, 18, 0), "America/New_York", "12:00", "13:00") is None


async def test_messages_held_at_2100_and_sent_after_0800(live_server, session):
    org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00", timezone="Asia/Tokyo")
    campaign = make_campaign(session, org, recipients=4)
    with clock.frozen(JST_2100) as frozen:
        sending.start_sending(session, campaign)
        session.commit()
        assert await run_dispatcher_once() == 0
        attempts = session.exec(select(SendAttempt)).all()
        session.expire_all()
        attempts = session.exec(select(SendAttempt)).all()
        assert all(a.status == "queued" and a.held_for_quiet_hours for a in attempts)
        assert all(a.not_before == JST_0800_NEXT for a in attempts)
        assert sending.sending_progress(session, campaign.id)["held"] == 4

        frozen.set(JST_0800_NEXT - timedelta(minutes=1))  # 07:59 JST: still held
        assert await run_dispatcher_once() == 0
        with live_server.client() as client:
            assert client.get("/sim/twilio/_stats").json()["messages"] == 0

        frozen.set(JST_0800_NEXT)  # 08:00 JST: sent, never dropped
        assert await run_dispatcher_once() == 4
        with live_server.client() as client:
            assert client.get("/sim/twilio/_stats").json()["messages"] == 4
        session.expire_all()
        assert {a.status for a in session.exec(select(SendAttempt))} <= {"accepted", "sent", "delivered"}
        assert all(a.sending_at == JST_0800_NEXT for a in session.exec(select(SendAttempt)))
        assert all(r.queued_at == JST_2100 for r in session.exec(select(Recipient)))


async def test_campaign_override_of_quiet_hours(live_server, session):
    org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00")
    campaign = make_campaign(session, org, recipients=1, quiet_hours_start="23:00", quiet_hours_end="07:00")
    with clock.frozen(JST_2100):  # 21:00 JST: quiet for the org, not for this campaign
        sending.start_sending(session, campaign)
        session.commit()
        assert await run_dispatcher_once() == 1
