"""The send attempt's state machine (``domain.attempts``), without a database:
whatever sequence of worker transitions and provider reports happens, an
attempt never moves backwards once the provider has it, a cancelled attempt
never moves, and a final status stays final (``delivered`` may still win)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smspay_app.domain import attempts
from smspay_app.domain import campaigns as campaign_machine
from smspay_app.domain.attempts import RANK, AttemptStatus
from smspay_app.domain.campaigns import CampaignRefused, CampaignStatus

T0 = datetime(2030, 1, 1, 3, 0)


@dataclass
class Attempt:
    status: str = AttemptStatus.QUEUED
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    sending_at: datetime | None = None
    accepted_at: datetime | None = None
    final_at: datetime | None = None
    not_before: datetime = T0
    error_code: str = ""
    error_message: str = ""
    held_for_quiet_hours: bool = False
    try_number: int = 1


def _claim(a: Attempt, now: datetime) -> None:
    # What the dispatcher's conditional UPDATE does (WHERE status='queued').
    if a.status == AttemptStatus.QUEUED:
        for name, value in attempts.claim_values("w", now + timedelta(seconds=30), now).items():
            setattr(a, name, value)


def _worker(a: Attempt, op: str, now: datetime) -> None:
    """A worker step, taken only where the dispatcher takes it."""
    if op == "claim":
        _claim(a, now)
    elif a.status != AttemptStatus.SENDING:
        if op == "accept":
            attempts.accept(a, now=now)
        return
    elif op == "accept":
        attempts.accept(a, now=now)
    elif op == "retry":
        attempts.retry(a, not_before=now + timedelta(seconds=2))
    elif op == "fail":
        attempts.fail(a, now=now, code="21211", message="bad number")
    elif op == "unknown":
        attempts.flag_unknown(a, reason="provider unreachable")
    elif op == "hold":
        attempts.hold(a, until=now + timedelta(hours=8))


step = st.one_of(
    st.tuples(st.just("worker"), st.sampled_from(["claim", "accept", "retry", "fail", "unknown", "hold"])),
    st.tuples(st.just("report"), st.sampled_from(sorted(attempts.PROVIDER_STATUS) + ["bogus"])),
    st.tuples(st.just("cancel"), st.just("")),
)


@given(st.lists(st.tuples(step, st.integers(0, 600)), max_size=30))
def test_an_attempt_never_moves_backwards_once_the_provider_has_it(steps):
    a = Attempt()
    taken = False  # the provider has it (accepted or later)
    for (kind, op), seconds in steps:
        now = T0 + timedelta(seconds=seconds)
        before, before_final = a.status, a.final_at
        if kind == "worker":
            _worker(a, op, now)
        elif kind == "report":
            attempts.apply_provider_status(a, op, at=now)
        else:
            try:
                attempts.cancel(a, now=now)
            except attempts.AttemptRefused:
                assert before not in attempts.PENDING
        assert a.status in set(AttemptStatus)
        if before == AttemptStatus.CANCELLED:
            assert a.status == AttemptStatus.CANCELLED and a.final_at == before_final
        if taken and before in RANK and a.status in RANK:
            assert RANK[a.status] >= RANK[before], (before, a.status)
        if before in attempts.FINAL and before != AttemptStatus.CANCELLED:
            assert a.status in attempts.FINAL
        if a.status in attempts.FINAL:
            assert a.final_at is not None
        if a.status != AttemptStatus.SENDING:
            assert a.lease_owner is None and a.lease_expires_at is None
        taken = taken or a.status in (
            AttemptStatus.ACCEPTED,
            AttemptStatus.SENT,
            AttemptStatus.DELIVERED,
            AttemptStatus.UNDELIVERED,
        )


def test_delivered_wins_over_an_earlier_failure_report_and_keeps_the_earliest_time():
    a = Attempt(status=AttemptStatus.ACCEPTED)
    attempts.apply_provider_status(a, "failed", at=T0 + timedelta(seconds=5), error_code="30003")
    assert a.status == AttemptStatus.FAILED and a.error_code == "30003"
    attempts.apply_provider_status(a, "delivered", at=T0 + timedelta(seconds=9))
    assert a.status == AttemptStatus.DELIVERED and a.final_at == T0 + timedelta(seconds=9)
    attempts.apply_provider_status(a, "delivered", at=T0 + timedelta(seconds=7))
    assert a.final_at == T0 + timedelta(seconds=7)
    attempts.apply_provider_status(a, "sent", at=T0 + timedelta(seconds=20))
    assert a.status == AttemptStatus.DELIVERED


def test_an_attempt_the_provider_may_have_cannot_be_cancelled():
    a = Attempt(status=AttemptStatus.ACCEPTED)
    with pytest.raises(attempts.AttemptRefused) as err:
        attempts.cancel(a, now=T0)
    assert err.value.key == "sending.error.attempt_not_pending" and err.value.text("en")


@dataclass
class Campaign:
    status: str = CampaignStatus.DRAFT
    scheduled_at: datetime | None = None
    send_started_at: datetime | None = None
    completed_at: datetime | None = None
    closes_at: datetime | None = None
    updated_at: datetime = T0
    paused_reason: str = ""


def test_campaign_transitions_and_refusals():
    c = Campaign(scheduled_at=T0 + timedelta(hours=1))
    campaign_machine.start(c, now=T0)
    assert c.status == CampaignStatus.SCHEDULED and c.send_started_at == T0
    assert not campaign_machine.promote(c, now=T0)
    assert campaign_machine.promote(c, now=T0 + timedelta(hours=1)) and c.status == CampaignStatus.SENDING
    campaign_machine.pause(c, now=T0)
    with pytest.raises(CampaignRefused) as err:
        campaign_machine.pause(c, now=T0)
    assert err.value.key == "sending.error.cannot_pause"
    campaign_machine.resume(c, now=T0 + timedelta(hours=2))
    assert c.status == CampaignStatus.SENDING
    assert campaign_machine.complete(c, now=T0) and c.status == CampaignStatus.ACTIVE
    campaign_machine.reopen(c, now=T0 + timedelta(hours=3))
    assert c.status == CampaignStatus.SENDING and c.completed_at is None
    campaign_machine.cancel(c, now=T0)
    for move in (campaign_machine.cancel, campaign_machine.reopen, campaign_machine.start, campaign_machine.resume):
        with pytest.raises(CampaignRefused):
            move(c, now=T0)
    assert c.status == CampaignStatus.CANCELLED


def test_an_active_campaign_can_be_paused_resumed_closed_or_cancelled():
    """Issue 20: a campaign whose first send finished stays ``active`` (follow-ups
    still go out) and can still be paused, resumed, cancelled, and closed."""
    c = Campaign(status=CampaignStatus.SENDING)
    assert campaign_machine.complete(c, now=T0) and c.status == CampaignStatus.ACTIVE
    campaign_machine.pause(c, now=T0)
    assert c.status == CampaignStatus.PAUSED
    campaign_machine.resume(c, now=T0)
    assert campaign_machine.complete(c, now=T0) and c.status == CampaignStatus.ACTIVE
    campaign_machine.cancel(c, now=T0)
    assert c.status == CampaignStatus.CANCELLED
    c = Campaign(status=CampaignStatus.ACTIVE, closes_at=T0 + timedelta(days=1))
    assert not campaign_machine.due_to_close(c, now=T0)
    assert campaign_machine.due_to_close(c, now=T0 + timedelta(days=1))
    campaign_machine.close(c, now=T0)
    assert c.status == CampaignStatus.CLOSED
    for move in (campaign_machine.cancel, campaign_machine.reopen, campaign_machine.pause, campaign_machine.close):
        with pytest.raises(CampaignRefused):
            move(c, now=T0)
    with pytest.raises(CampaignRefused):
        campaign_machine.close(Campaign(status=CampaignStatus.SENDING), now=T0)
