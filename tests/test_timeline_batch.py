"""``timeline.batch``: events recorded inside the block are inserted in one
statement at its end (the dispatcher's recording of a batch of outcomes), with
the same columns as one by one, their funnel steps and webhooks at once, and
nothing at all when the block fails."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlmodel import select

from smspay_app.domain.clock import frozen
from smspay_app.models import Recipient, TimelineEvent
from smspay_app.services import timeline
from tests.factories import make_campaign, make_org


def _events(session, recipient_id: int) -> list[tuple]:
    rows = session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == recipient_id)).all()
    return sorted((e.kind, e.at, json.loads(e.detail), e.organisation_id, e.campaign_id) for e in rows)


def test_batched_events_land_at_the_end_of_the_block_as_single_ones_would(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=2)
    one, other = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    with frozen(datetime(2030, 4, 1, 9, 0)):
        timeline.record(session, one, "sms_accepted", step="sent", detail={"attempt_id": 7, "sid": "SM1"})
        with timeline.batch(session):
            timeline.record(session, other, "sms_accepted", step="sent", detail={"attempt_id": 7, "sid": "SM1"})
            with timeline.batch(session):  # nested: the outer block inserts
                timeline.record(session, other, "sms_delivered", step="delivered")
            session.flush()
            assert _events(session, other.id) == []  # held until the block ends
            assert other.status == "delivered"  # the funnel moved at once
        session.commit()
    got = _events(session, other.id)
    assert [kind for kind, *_ in got] == ["sms_accepted", "sms_delivered"]
    single = _events(session, one.id)[0]
    assert got[0][1:] == single[1:]  # same time, detail, organisation and campaign


def test_a_failing_block_inserts_nothing(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=1)
    (recipient,) = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    with pytest.raises(RuntimeError):
        with timeline.batch(session):
            timeline.record(session, recipient, "sms_accepted", detail={"attempt_id": 1})
            raise RuntimeError("provider answer lost")
    session.commit()
    assert _events(session, recipient.id) == []
    assert timeline._BATCH not in session.info
