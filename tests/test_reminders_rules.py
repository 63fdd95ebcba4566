"""Reminder rules with a frozen clock: the right recipients get the right
number of reminders at the right times; none after payment or opt-out; quiet
hours respected; each reminder queued once even when passes repeat."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import Campaign, Payment, Recipient, SendAttempt, TimelineEvent
from smspay_app.services import auth, dashboard, reminders, replies, timeline
from smspay_app.services.reminders import RulesInvalid
from tests.factories import make_campaign, make_org

# 2030-05-01 10:00 JST
SENT = datetime(2030, 5, 1, 1, 0)
DUE = date(2030, 5, 10)
RULES = {
    "rules": [
        {"anchor": "due_date", "days": -3, "at": "10:00"},
        {"anchor": "due_date", "days": 1, "at": "10:00"},
        {"anchor": "due_date", "days": 7, "at": "10:00"},
    ],
    "max": 2,
}


def _reminders(session, recipient_id=None) -> list[SendAttempt]:
    session.expire_all()
    q = select(SendAttempt).where(SendAttempt.kind == "reminder").order_by(SendAttempt.id)
    if recipient_id is not None:
        q = q.where(SendAttempt.recipient_id == recipient_id)
    return list(session.exec(q))


def _setup(session):
    org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00")
    campaign = make_campaign(
        session,
        org,
        5,
        status="sending",
        due_date=DUE,
        reminder_rules=json.dumps(RULES),
        reminder_template="{{name}}様 お支払期限が近づいています {{link}}",
    )
    rs = list(session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)))
    for r in rs[:4]:
        timeline.record(session, r, "sms_delivered", step="delivered", at=SENT)
        timeline.record(session, r, "sms_sent", step="sent", at=SENT)
    session.commit()
    return org, campaign, rs


@pytest.mark.also_on_postgresql
def test_due_date_rules_with_a_frozen_clock(session):
    org, campaign, (normal, payer, opted, pending, never_sent) = _setup(session)
    session.add(
        Payment(
            organisation_id=org.id,
            campaign_id=campaign.id,
            recipient_id=pending.id,
            amount_yen=1000,
            provider_session_id="cs_pending",
            status="processing",
            method="konbini",
        )
    )
    session.commit()
    queued_at: dict[int, list[datetime]] = {}
    events = [(datetime(2030, 5, 6, 3, 0), "opt_out"), (datetime(2030, 5, 8, 3, 0), "pay")]
    with clock.frozen(SENT) as c:
        while clock.utcnow() < datetime(2030, 5, 20):
            now = c.tick(timedelta(hours=3))  # every 3 hours: 01:00 UTC (10:00 JST) is on the grid
            while events and events[0][0] <= now:
                _, what = events.pop(0)
                if what == "opt_out":
                    replies.opt_out(session, org.id, opted.phone_e164, source="reply")
                else:
                    timeline.record(session, payer, "paid", step="paid", at=now)
                session.commit()
            n = reminders.queue_due(session, now)
            assert reminders.queue_due(session, now) == 0  # a second pass at the same moment queues nothing
            for a in _reminders(session):
                queued_at.setdefault(a.recipient_id, [])
                if a.created_at == now:
                    queued_at[a.recipient_id].append(now)
            assert n == sum(1 for times in queued_at.values() for t in times if t == now)
    # 3 days before the due date at 10:00 JST (01:00 UTC), then 1 day after; the
    # 7-days-after rule would be a third: max 2.
    assert queued_at[normal.id] == [datetime(2030, 5, 7, 1, 0), datetime(2030, 5, 11, 1, 0)]
    assert queued_at[payer.id] == [datetime(2030, 5, 7, 1, 0)]  # paid on the 8th: nothing after
    assert opted.id not in queued_at  # opted out on the 6th
    assert pending.id not in queued_at  # a convenience-store payment is pending
    assert never_sent.id not in queued_at  # never got the first SMS
    kinds = [e.kind for e in session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == normal.id))]
    assert kinds.count("reminder_queued") == 2
    keys = {a.idempotency_key for a in _reminders(session, normal.id)}
    assert len(keys) == 2


def test_first_send_rule_waits_for_the_end_of_quiet_hours(session):
    org = make_org(session, quiet_hours_start="21:00", quiet_hours_end="08:00")
    make_campaign(
        session,
        org,
        1,
        status="active",
        reminder_rules=json.dumps({"rules": [{"anchor": "first_send", "days": 1}], "max": 3}),
    )
    r = session.exec(select(Recipient)).one()
    sent = datetime(2030, 5, 1, 13, 30)  # 22:30 JST
    timeline.record(session, r, "sms_sent", step="sent", at=sent)
    session.commit()
    with clock.frozen(sent) as c:
        assert reminders.queue_due(session, c.tick(timedelta(hours=23))) == 0
        assert reminders.queue_due(session, c.tick(timedelta(hours=1))) == 1  # 2030-05-02 22:30 JST
    [a] = _reminders(session)
    assert a.held_for_quiet_hours is True
    assert a.not_before == datetime(2030, 5, 2, 23, 0)  # 08:00 JST on the 3rd


def test_stale_moments_are_not_sent_late(session):
    """Rules added after the due date do not fire "3 days before" reminders."""
    org, campaign, rs = _setup(session)
    with clock.frozen(datetime(2030, 5, 11, 12, 0)):  # 21:00 JST on the 11th
        n = reminders.queue_due(session)
    # Only the +1 day rule (2030-05-11 10:00 JST) is within the last 24 hours.
    assert n == 4
    assert {a.idempotency_key.split(":", 3)[3] for a in _reminders(session)} == {"due+1@10:00"}


def test_rules_are_validated_and_saved_by_operators_only(session):
    org = make_org(session)
    campaign = make_campaign(session, org, 1)
    operator = auth.Caller(1, org.id, "operator", "", "", "ja", "")
    support = auth.Caller(2, org.id, "support", "", "", "ja", "")
    other = auth.Caller(3, org.id + 1000, "admin", "", "", "ja", "")
    good = [{"anchor": "due_date", "days": "－３", "at": "１０：００"}, {"anchor": "first_send", "days": "7"}]
    with pytest.raises(auth.NotAllowed):
        reminders.save_rules(session, support, campaign.id, good, 2, "")
    with pytest.raises(LookupError):
        reminders.save_rules(session, other, campaign.id, good, 2, "")
    with pytest.raises(RulesInvalid) as bad:
        reminders.save_rules(
            session,
            operator,
            campaign.id,
            [
                {"anchor": "first_send", "days": "0"},
                {"anchor": "due_date", "days": "x"},
                {"anchor": "moon", "days": 1},
                {"anchor": "due_date", "days": 1, "at": "25:99"},
            ],
            99,
            "{{unclosed",
        )
    keys = {e.key for e in bad.value.errors}
    assert {
        "dash.rem.error.after_send",
        "dash.rem.error.days",
        "dash.rem.error.anchor",
        "dash.rem.error.time",
        "dash.rem.error.max",
        "dash.rem.error.template",
    } <= keys
    session.expire_all()
    assert session.get(Campaign, campaign.id).reminder_rules == "[]"  # nothing saved
    saved = reminders.save_rules(session, operator, campaign.id, good, "２", "{{name}}様 お支払のお願い {{link}}")
    plan = reminders.plan_of(saved)
    assert [r.key for r in plan.rules] == ["due-3@10:00", "send+7"] and plan.max_count == 2


@pytest.mark.also_on_postgresql
def test_dashboard_counts_reminders(session):
    org, campaign, rs = _setup(session)
    with clock.frozen(datetime(2030, 5, 7, 1, 0)):
        assert reminders.queue_due(session) == 4
    a = _reminders(session)[0]
    a.status = "delivered"
    session.add(a)
    session.commit()
    caller = auth.Caller(1, org.id, "support", "", "", "ja", "")
    figures = dashboard.campaign_figures(session, caller, campaign.id)
    assert (figures.reminders_sent, figures.reminders_queued) == (1, 3)
    assert dashboard.overview(session, caller).totals["reminders_sent"] == 1
