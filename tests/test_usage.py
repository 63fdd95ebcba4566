"""Usage per organisation (issue 19): SMS and segments per month by provider
and campaign equal the accepted send attempts (property test over random
sends through the dispatcher and the simulator); the monthly cap pauses at
the cap, not one message later; month boundaries follow the organisation's
time zone; the CSV is neutralised."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import func, select

from smspay_app.domain import clock
from smspay_app.i18n import t
from smspay_app.models import Campaign, Organisation, Recipient, SendAttempt
from smspay_app.services import sending, usage
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_admin, make_campaign, make_org
from tests.helpers import reload


def _sent(live_server) -> int:
    with live_server.client() as c:
        return c.get("/sim/twilio/_stats").json()["messages"]


# Mid-month, whatever the wall clock says; each dispatcher pass moves the
# frozen clock on, so the per-second rate limit never stalls a pass.
MID_MONTH = datetime(2026, 11, 10, 3, 0)
_examples = itertools.count()


async def _drain(frozen, **kwargs) -> None:
    for _ in range(50):
        sent = await run_dispatcher_once(**kwargs)
        frozen.tick(timedelta(seconds=2))
        if not sent:
            return


campaign_specs = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),  # recipients
        st.integers(min_value=0, max_value=160),  # extra template length (1..3 segments)
        st.integers(min_value=0, max_value=2),  # recipients with an invalid number (provider refuses)
    ),
    min_size=1,
    max_size=3,
)


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=campaign_specs)
async def test_usage_equals_accepted_attempts_and_their_segments(live_server, session, specs):
    with clock.frozen(MID_MONTH + timedelta(hours=next(_examples))) as frozen:
        org = make_org(session, "利用量")
        admin = make_admin(session, org)
        before = _sent(live_server)
        phone = 0
        for n, extra, bad in specs:
            campaign = make_campaign(
                session, org, recipients=n + bad, template="お知らせ" + "あ" * extra + " {{link}}", first_phone=phone
            )
            phone += n + bad
            broken = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()[:bad]
            for r in broken:
                r.phone_e164 = "090-bad"
                session.add(r)
            session.commit()
            if n + bad:
                sending.start_sending(session, campaign)
                session.commit()
        await _drain(frozen)
        session.expire_all()
        accepted = session.exec(
            select(SendAttempt).where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at.is_not(None))
        ).all()
        got = usage.month_usage(session, admin, org.id)
        assert got.messages == len(accepted) == sum(n for n, _, _ in specs) == _sent(live_server) - before
        assert got.segments == sum(a.segments for a in accepted)
        assert all(a.segments >= 1 for a in accepted)
        per_campaign: dict[int, tuple[int, int]] = {}
        for a in accepted:
            m, s = per_campaign.get(a.campaign_id, (0, 0))
            per_campaign[a.campaign_id] = (m + 1, s + a.segments)
        assert {r.campaign_id: (r.messages, r.segments) for r in got.rows} == per_campaign
        assert got.by_provider() == ({"simulator": (got.messages, got.segments)} if accepted else {})


@pytest.mark.also_on_postgresql
async def test_cap_pauses_at_the_cap_not_one_message_later(live_server, session):
    with clock.frozen(MID_MONTH) as frozen:
        org = make_org(session, "上限", monthly_sms_cap=3)
        other = make_org(session, "上限なし")
        capped = make_campaign(session, org, recipients=5)
        free = make_campaign(session, other, recipients=4, first_phone=50)
        sending.start_sending(session, capped)
        sending.start_sending(session, free)
        session.commit()
        before = _sent(live_server)
        await _drain(frozen, batch_size=2)
        session.expire_all()
        mine = session.exec(
            select(func.count())
            .select_from(SendAttempt)
            .where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at.is_not(None))
        ).one()
        assert mine == 3 and _sent(live_server) - before == 3 + 4
        campaign = reload(session, Campaign, capped.id)
        assert (campaign.status, campaign.paused_reason) == ("paused", usage.CAP_REASON)
        assert "上限" in t(campaign.paused_reason, "ja") and "cap" in t(campaign.paused_reason, "en")
        assert reload(session, Campaign, free.id).status == "active"

        # resuming while still at the cap pauses again at once, without sending
        sending.resume(session, campaign)
        session.commit()
        await _drain(frozen)
        session.expire_all()
        assert reload(session, Campaign, capped.id).status == "paused" and _sent(live_server) - before == 7
        # a higher cap lets the rest go
        org = reload(session, Organisation, org.id)
        org.monthly_sms_cap = 10
        session.add(org)
        sending.resume(session, reload(session, Campaign, capped.id))
        session.commit()
        await _drain(frozen)
        session.expire_all()
        assert reload(session, Campaign, capped.id).status == "active" and _sent(live_server) - before == 9


def test_months_follow_the_organisation_time_zone_and_csv_is_neutralised(session):
    org = make_org(session, "=SUM(A1)", timezone="Asia/Tokyo")
    admin = make_admin(session, org)
    campaign = make_campaign(session, org, recipients=2, name="+danger")
    sending.start_sending(session, campaign)
    a, b = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    # 2026-10-31 15:30 UTC is already November in Japan; 14:30 UTC is still October
    for attempt, at in ((a, datetime(2026, 10, 31, 15, 30)), (b, datetime(2026, 10, 31, 14, 30))):
        attempt.status, attempt.accepted_at, attempt.segments, attempt.provider = "accepted", at, 2, "twilio"
        session.add(attempt)
    session.commit()
    november = usage.month_usage(session, admin, org.id, 2026, 11)
    october = usage.month_usage(session, admin, org.id, 2026, 10)
    assert (november.messages, november.segments, october.messages) == (1, 2, 1)
    with clock.frozen(datetime(2026, 10, 31, 15, 0)):  # 00:00 on 1 November in Tokyo
        assert usage.month_usage(session, admin, org.id).month == 11
        assert usage.used_this_month(session, org, clock.utcnow() + timedelta(minutes=1)) == 1
    text = usage.to_csv([november], "en")
    assert text.startswith("\ufeffOrganisation,Month,SMS provider,Campaign ID,Campaign,Messages,Segments\r\n")
    assert "'=SUM(A1),2026-11,Twilio" in text and "'+danger" in text


async def test_the_campaign_page_says_why_the_cap_paused_it(settings, session):
    import smspay_app.smspay_app  # noqa: F401  (registers the pages and their route args)
    from tests.factories import signed_in
    from tests.helpers import open_campaign_page

    org = make_org(session, "上限表示", monthly_sms_cap=1)
    token, _ = signed_in(session, org, "admin")
    campaign = make_campaign(session, org, recipients=2)
    sending.start_sending(session, campaign)
    first = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).first()
    first.status, first.accepted_at = "accepted", clock.utcnow()
    session.add(first)
    session.commit()
    usage.claim_gate(session)  # the dispatcher's per-cycle check
    session.commit()
    state = (await open_campaign_page(token, campaign.id)).header
    assert state.status == "paused" and state.paused_reason_text == t(usage.CAP_REASON, "ja")


@pytest.mark.also_on_postgresql
async def test_concurrent_workers_never_pass_the_cap(live_server, session):
    import asyncio

    from smspay_app.settings import get_settings

    with clock.frozen(MID_MONTH) as frozen:
        org = make_org(session, "並行上限", monthly_sms_cap=7)
        campaign = make_campaign(session, org, recipients=20)
        sending.start_sending(session, campaign)
        session.commit()
        before = _sent(live_server)
        for _ in range(8):
            await asyncio.gather(
                *(run_dispatcher_once(batch_size=3, worker_id=f"worker-{i}") for i in range(3)),
                return_exceptions=True,  # a worker that lost a write race tries again next pass
            )
            frozen.tick(timedelta(seconds=2))
        # A worker that lost a write race after sending left its attempts in
        # flight: once their leases end, reconciliation settles them.
        frozen.tick(timedelta(seconds=get_settings().sms_lease_seconds * 2 + 1))
        await _drain(frozen)
        session.expire_all()
        accepted = session.exec(
            select(func.count())
            .select_from(SendAttempt)
            .where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at.is_not(None))
        ).one()
        assert accepted == 7 and _sent(live_server) - before == 7
        with live_server.client() as c:
            assert c.get("/sim/twilio/_stats").json()["max_asked"] == 1  # nothing sent twice
        assert reload(session, Campaign, campaign.id).paused_reason == usage.CAP_REASON
