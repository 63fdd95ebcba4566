"""Issue 18, item 3 (High): replies and STOP land in the organisation whose
message they answer, or in none when that cannot be known; sender ids are
unique across organisations.

The attack run put two organisations on the default shared sender: a
free-text reply to organisation A's SMS was stored under B (it appeared in B's
Replies) and a STOP opted the number out of B only (A's recipient stayed
``delivered``). B's admin could also save A's sender ids."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from smspay_app.domain.clock import utcnow
from smspay_app.models import InboundMessage, OptOut, Recipient, SendAttempt
from smspay_app.services import replies
from smspay_app.services import settings as org_settings
from tests.factories import make_campaign, make_org, signed_in


def _sent(session, recipient: Recipient) -> None:
    """An SMS of ``recipient``'s organisation handed to the provider."""
    session.add(
        SendAttempt(
            organisation_id=recipient.organisation_id,
            campaign_id=recipient.campaign_id,
            recipient_id=recipient.id,
            idempotency_key=str(uuid.uuid4()),
            status="delivered",
            sending_at=utcnow(),
            accepted_at=utcnow(),
        )
    )
    session.commit()


def _recipient(session, org) -> Recipient:
    return session.exec(select(Recipient).where(Recipient.organisation_id == org.id)).one()


def _two_on_the_shared_sender(session):
    org_a = make_org(session, "A社")
    org_b = make_org(session, "B社")
    make_campaign(session, org_a, recipients=1, first_phone=7)
    make_campaign(session, org_b, recipients=1, first_phone=7)  # the same phone in both
    return org_a, org_b, _recipient(session, org_a), _recipient(session, org_b)


def test_a_reply_on_the_shared_sender_lands_in_the_organisation_that_wrote_to_the_phone(session, settings):
    """Finding 3: two organisations on the default shared sender, the same
    phone in both, only A sent it an SMS: the free-text reply and the STOP
    are A's (A's recipient opted out), never B's."""
    org_a, org_b, r_a, r_b = _two_on_the_shared_sender(session)
    _sent(session, r_a)
    shared = settings.twilio_from
    reply = replies.handle_inbound(
        session, from_phone=r_a.phone_e164, to_phone=shared, body="明日払います", provider_message_id="SMr1"
    )
    stop = replies.handle_inbound(
        session, from_phone=r_a.phone_e164, to_phone=shared, body="STOP", provider_message_id="SMr2"
    )
    session.commit()
    assert (reply.organisation_id, reply.recipient_id) == (org_a.id, r_a.id)
    assert (stop.organisation_id, stop.recipient_id) == (org_a.id, r_a.id)
    assert session.exec(select(OptOut).where(OptOut.organisation_id == org_a.id)).one().phone_e164 == r_a.phone_e164
    assert session.exec(select(OptOut).where(OptOut.organisation_id == org_b.id)).first() is None
    session.expire_all()
    assert session.get(Recipient, r_a.id).status == "opted_out"
    assert session.get(Recipient, r_b.id).status != "opted_out"


def test_an_ambiguous_reply_is_filed_under_no_organisation(session, settings):
    """Finding 3: both organisations wrote to the phone from the shared
    sender, so nobody can know which message the reply answers: it is kept
    under no organisation (unrouted, seen by neither), and a STOP opts the
    number out of neither, rather than of a guess."""
    org_a, org_b, r_a, r_b = _two_on_the_shared_sender(session)
    _sent(session, r_a)
    _sent(session, r_b)
    stop = replies.handle_inbound(
        session, from_phone=r_a.phone_e164, to_phone=settings.twilio_from, body="STOP", provider_message_id="SMr3"
    )
    session.commit()
    assert stop is not None and stop.organisation_id is None and stop.recipient_id is None
    assert session.exec(select(OptOut)).first() is None
    assert session.exec(select(InboundMessage).where(InboundMessage.organisation_id.is_not(None))).first() is None


def test_a_reply_with_no_message_to_answer_goes_to_the_only_organisation_holding_the_phone(session, settings):
    """Finding 3 (the fallback): no SMS sent yet; the phone is a recipient of
    A only among the organisations on that sender: A's. Held by both: nobody."""
    org_a = make_org(session, "A社")
    org_b = make_org(session, "B社")
    make_campaign(session, org_a, recipients=1, first_phone=3)
    message = replies.handle_inbound(
        session,
        from_phone=_recipient(session, org_a).phone_e164,
        to_phone=settings.twilio_from,
        body="?",
        provider_message_id="SMr4",
    )
    assert message.organisation_id == org_a.id
    make_campaign(session, org_b, recipients=1, first_phone=3)
    message = replies.handle_inbound(
        session,
        from_phone=_recipient(session, org_a).phone_e164,
        to_phone=settings.twilio_from,
        body="?",
        provider_message_id="SMr5",
    )
    assert message.organisation_id is None


GOOD = dict(
    name="B社",
    sender_name="B",
    sender_id="",
    timezone="Asia/Tokyo",
    quiet_hours_start="21:00",
    quiet_hours_end="08:00",
    support_phone="0120-123-456",
    segment_price_yen="9.5",
    data_retention_days="90",
)


@pytest.mark.parametrize("taken", ["DEMOSHOJI", "demoshoji", "+815011112222"])
def test_an_organisation_cannot_save_another_organisations_sender_id(session, settings, taken):
    """Finding 3 (B's admin could save A's sender ids ``DEMOSHOJI`` and
    ``+815011112222``): the save is refused with a message that says why."""
    make_org(session, "A社", sender_id="DEMOSHOJI")
    make_org(session, "A2社", sender_id="+815011112222")
    org_b = make_org(session, "B社")
    _, admin = signed_in(session, org_b, "admin")
    with pytest.raises(org_settings.SettingsInvalid) as err:
        org_settings.update_settings(session, admin, {**GOOD, "sender_id": taken})
    assert {(e.field, e.key) for e in err.value.errors} == {("sender_id", "settings.error.sender_id_taken")}
    from smspay_app.i18n import t

    assert "別の組織" in t("settings.error.sender_id_taken", "ja")
    assert "Another organisation" in t("settings.error.sender_id_taken", "en")
    session.expire_all()
    assert session.get(type(org_b), org_b.id).sender_id == ""
    org_settings.update_settings(session, admin, {**GOOD, "sender_id": "BSHOJI"})  # its own is fine
    org_settings.update_settings(session, admin, {**GOOD, "sender_id": "BSHOJI", "name": "B社2"})  # kept on re-save
