"""Property: whatever order, duplication and timing status callbacks arrive in,
each recipient ends in the status its message really reached, and each funnel
step keeps the first time it was reported (implied steps included)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import Session, select

from smspay_app.db import get_engine
from smspay_app.domain import clock
from smspay_app.models import Recipient, SendAttempt
from smspay_app.services import sending
from smspay_app.web.sms_webhooks import process_status
from tests.factories import make_campaign, make_org

T0 = datetime(2026, 5, 1, 3, 0)

outcome = st.sampled_from(["delivered", "failed", "undelivered"])
# For each recipient: its final outcome and a list of (status index, arrival second),
# status index 0=queued 1=sent 2=final; each status reported 1-3 times.
recipient_events = outcome.flatmap(
    lambda final: st.tuples(
        st.just(final),
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 600)),
            min_size=1,
            max_size=9,
        ),
    )
)


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(recipient_events, min_size=1, max_size=4), data=st.data())
def test_callbacks_in_any_order_give_final_status_and_first_timestamps(settings, plan, data):
    with Session(get_engine(), expire_on_commit=False) as s:
        org = make_org(s)
        campaign = make_campaign(s, org, recipients=len(plan))
        sending.start_sending(s, campaign)
        s.commit()
        attempts = s.exec(
            select(SendAttempt).where(SendAttempt.campaign_id == campaign.id).order_by(SendAttempt.id)
        ).all()
        for a in attempts:
            a.status, a.provider_message_id, a.accepted_at = "accepted", "SM" + uuid.uuid4().hex, T0
            s.add(a)
        s.commit()

    # Every status of every message happens at least once; then shuffle all of them.
    events = []
    for (final, extra), attempt in zip(plan, attempts):
        names = ["queued", "sent", final]
        reported = {i for i, _ in extra}
        for i in range(3):
            if i not in reported:
                extra = extra + [(i, 600)]
        for i, second in extra:
            events.append((attempt, names[i], T0 + timedelta(seconds=second)))
    events = data.draw(st.permutations(events))

    for attempt, status, at in events:
        with clock.frozen(at):
            process_status(uuid.uuid4().hex, {"MessageSid": attempt.provider_message_id, "MessageStatus": status}, None)

    with Session(get_engine()) as s:
        for (final, _), attempt in zip(plan, attempts):
            mine = [(st_, at) for a, st_, at in events if a.id == attempt.id]
            first = lambda name, mine=mine: min((at for n, at in mine if n == name), default=None)  # noqa: E731
            a = s.get(SendAttempt, attempt.id)
            r = s.get(Recipient, attempt.recipient_id)
            assert a.status == final
            if final == "delivered":
                assert r.status == "delivered"
                assert r.delivered_at == first("delivered")
                assert r.sent_at == min(first("sent"), first("delivered"))
                assert r.failed_at is None
            else:
                assert r.status == "failed"
                assert r.failed_at == first(final)
                assert r.sent_at == first("sent")
                assert r.delivered_at is None
            assert a.final_at == first(final)
