"""The dispatcher's database work per SMS (issue 16, item 4), against the
simulator over real HTTP: a claim writes each route's attempts with one
UPDATE and the links with one insert; the provider's plain acceptances are
recorded from rows in one executemany, with the same columns, timeline events
and outcomes the per-object path gives; any other outcome in the same batch
still goes through that path."""

from __future__ import annotations

import json

from sqlalchemy import event
from sqlmodel import select

from smspay_app.db import get_engine
from smspay_app.domain.clock import utcnow
from smspay_app.models import Link, Recipient, SendAttempt, TimelineEvent
from smspay_app.providers.sms.base import ProviderMessage, SmsError
from smspay_app.services import sending
from smspay_app.worker.dispatcher import Dispatcher, Outcome
from tests.factories import make_campaign, make_org


def _start(session, n):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=n)
    sending.start_sending(session, campaign)
    session.commit()
    return campaign


class _Statements:
    """The SQL statements the dispatcher's engine runs, and the SendAttempt
    objects the ORM builds, while the block runs."""

    def __init__(self):
        self.run: list[tuple[str, bool]] = []
        self.attempts_loaded = 0

    def __enter__(self):
        event.listen(get_engine(), "before_cursor_execute", self._statement)
        event.listen(SendAttempt, "load", self._load)
        return self

    def __exit__(self, *exc):
        event.remove(get_engine(), "before_cursor_execute", self._statement)
        event.remove(SendAttempt, "load", self._load)

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.run.append((" ".join(statement.split()), executemany))

    def _load(self, target, context):
        self.attempts_loaded += 1

    def of(self, prefix: str) -> list[tuple[str, bool]]:
        return [(sql, many) for sql, many in self.run if sql.upper().startswith(prefix)]


async def test_a_pass_writes_attempts_in_bulk_and_records_acceptances_without_orm_objects(live_server, session):
    n = 6
    campaign = _start(session, n)
    now = utcnow()
    dispatcher = Dispatcher()
    provider_name = dispatcher.provider.name
    try:
        with _Statements() as seen:
            assert await dispatcher.run_once(now, housekeeping=False) == n
    finally:
        await dispatcher.aclose()

    # Only the claim builds attempt objects (quiet hours, opt-outs, rendering);
    # recording the acceptances reads rows.
    assert seen.attempts_loaded == n
    updates = seen.of("UPDATE SENDATTEMPT")
    # claim, route, lock before recording, then the acceptances: the only executemany.
    assert [many for _, many in updates] == [False, False, False, True], updates
    route_set = updates[1][0].split(" WHERE ")[0]
    assert sorted(route_set.split(" SET ")[1].split(", ")) == ["provider=?", "sms_connection_id=?"]
    links = seen.of("INSERT INTO LINK")
    assert len(links) == 1 and links[0][1]

    session.expire_all()
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    with live_server.client() as c:
        asked = c.get("/sim/twilio/_stats").json()
    assert asked["messages"] == n and asked["max_asked"] == 1
    for a in attempts:
        assert (a.status, a.provider, a.sms_connection_id) == ("accepted", provider_name, None)
        assert a.provider_message_id and a.provider_message_id.startswith("SM")
        assert a.segments >= 1 and a.accepted_at == now and a.sending_at == now
        assert (a.lease_owner, a.lease_expires_at, a.error_code, a.error_message) == (None, None, "", "")
    events = session.exec(
        select(TimelineEvent).where(TimelineEvent.campaign_id == campaign.id, TimelineEvent.kind == "sms_accepted")
    ).all()
    assert sorted((e.recipient_id, json.loads(e.detail)["sid"]) for e in events) == sorted(
        (a.recipient_id, a.provider_message_id) for a in attempts
    )
    assert all(e.at == now and e.organisation_id == campaign.organisation_id for e in events)
    # One live link per recipient, issued in the claim's one insert.
    live = session.exec(
        select(Link).join(Recipient, Recipient.id == Link.recipient_id).where(Recipient.campaign_id == campaign.id)
    ).all()
    assert len({link.recipient_id for link in live}) == n and all(link.revoked_at is None for link in live)


async def test_other_outcomes_in_the_same_batch_keep_the_per_object_path(session, settings):
    """Plain acceptances, an answer that already reports delivery, a transient
    and a permanent refusal, recorded together: each ends as it would alone."""
    campaign = _start(session, 5)
    now = utcnow()
    dispatcher = Dispatcher(lookup_carriers=False)
    try:
        jobs = dispatcher._claim(now)
    finally:
        await dispatcher.aclose()
    assert len(jobs) == 5
    plain_1, plain_2, delivered, transient, permanent = jobs
    dispatcher._record(
        [
            Outcome(plain_1, message=ProviderMessage(sid="SM" + "1" * 32, status="queued", num_segments=2)),
            Outcome(delivered, message=ProviderMessage(sid="SM" + "3" * 32, status="delivered", num_segments=1)),
            Outcome(transient, error=SmsError("transient", "throttled", code="20429", retry_after=1.0)),
            Outcome(plain_2, message=ProviderMessage(sid="SM" + "2" * 32, status="")),
            Outcome(permanent, error=SmsError("permanent", "invalid number", code="21211")),
        ],
        now,
    )
    session.expire_all()
    by_id = {a.id: a for a in session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id))}
    assert (by_id[plain_1.attempt_id].status, by_id[plain_1.attempt_id].segments) == ("accepted", 2)
    assert by_id[plain_2.attempt_id].status == "accepted"
    assert by_id[plain_2.attempt_id].provider_message_id == "SM" + "2" * 32
    assert (by_id[delivered.attempt_id].status, by_id[delivered.attempt_id].final_at) == ("delivered", now)
    retried = by_id[transient.attempt_id]
    assert (retried.status, retried.try_number, retried.error_code) == ("queued", 2, "20429")
    failed = by_id[permanent.attempt_id]
    assert (failed.status, failed.error_code, failed.final_at) == ("failed", "21211", now)

    def kinds(job) -> list[str]:
        return [
            e.kind
            for e in session.exec(
                select(TimelineEvent)
                .where(TimelineEvent.recipient_id == job.recipient_id, TimelineEvent.at == now)
                .order_by(TimelineEvent.id)
            )
        ]

    assert kinds(plain_1) == kinds(plain_2) == ["sms_accepted"]
    assert kinds(delivered) == ["sms_accepted", "sms_delivered"]
    assert kinds(transient) == ["sms_retry"]
    assert kinds(permanent) == ["sms_failed"]
    recipient = session.get(Recipient, delivered.recipient_id)
    assert recipient.status == "delivered" and recipient.delivered_at == now
