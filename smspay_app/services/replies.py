"""Two-way SMS: store replies against the recipient they answer, and honour
opt-out words (the number goes on the organisation's opt-out list and its
queued messages are cancelled). Matching is ``domain.opt_out``: a reply that
may be an opt-out but is not certain is flagged for the desk
(``InboundMessage.opt_out_unsure``), never applied."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.opt_out import OptOutVerdict, classify
from smspay_app.models import InboundMessage, OptOut, Organisation, Recipient, SendAttempt
from smspay_app.providers.sms.base import SmsCapabilities, capabilities_for
from smspay_app.services import timeline
from smspay_app.settings import get_settings


def capabilities_of(session: Session, organisation_id: int) -> tuple[str, str, SmsCapabilities]:
    """(provider name, country, capabilities) of the organisation's SMS route:
    the organisation's default SMS connection's provider (else the configured
    ``settings.sms_provider``) to the organisation's default country. The Replies page and the API say from this whether replies
    can arrive at all, and why not."""
    from smspay_app.services import connections

    org = session.get(Organisation, organisation_id)
    country = (org.default_region if org else "") or "JP"
    provider = connections.sms_provider_name(session, organisation_id)
    return provider, country, capabilities_for(provider, country)


def opt_out_words() -> list[str]:
    return [w.strip() for w in get_settings().sms_opt_out_words.split(",") if w.strip()]


def opt_out_verdict(body: str, words: list[str] | None = None) -> OptOutVerdict:
    """``domain.opt_out.classify`` with the configured words: a keyword must be
    the whole reply (after trimming punctuation and polite endings) or clearly
    standalone; a reply that only mentions one is ``UNSURE`` (for the desk)."""
    return classify(body, words if words is not None else opt_out_words())


def is_opt_out(body: str, words: list[str] | None = None) -> bool:
    """The reply certainly opts out (``stop``, ``ＳＴＯＰ``, ``停止。``,
    ``配信停止してください``); ``ロックを解除してください`` does not."""
    return opt_out_verdict(body, words) == OptOutVerdict.OPT_OUT


def _organisations_sending_from(session: Session, to_phone: str) -> list[int]:
    """The organisations whose SMS go out from ``to_phone``: their own sender
    id, or the shared default sender (``settings.twilio_from``) when they have
    none."""
    settings = get_settings()
    orgs = [o.id for o in session.exec(select(Organisation).where(Organisation.sender_id == to_phone))]
    if to_phone == settings.twilio_from:
        orgs += [o.id for o in session.exec(select(Organisation).where(Organisation.sender_id == ""))]
    return [o for o in orgs if o is not None]


def route_organisation(session: Session, from_phone: str, to_phone: str) -> int | None:
    """The organisation whose message a reply answers, or None when it cannot
    be known (the reply is then filed under no organisation: never a guess).

    The 2026 attack run put two organisations on the default shared sender: a
    free-text reply to organisation A's SMS was stored under B and a STOP
    opted the number out of B only. So: among the organisations sending from
    the number the reply was sent to, the ones that sent an SMS to this phone
    (an attempt handed to the provider) decide; when exactly one did, it is
    that one. When none did, an organisation holding this phone as a
    recipient decides, if it is the only one. Several: ambiguous, nobody.

    No provider here names the message a reply answers, so there is no
    reference to route by: Twilio's inbound webhook carries the reply's own
    ``MessageSid``, ``From``, ``To`` and ``Body`` only, and Karaden's API
    (SDK 1.2.1, API 2024-03-01) has no inbound messages at all
    (``capabilities_for``: ``two_way=False``). A reply through an
    organisation's own connection is routed by that connection instead
    (``find_recipient(organisation_id=...)``, the per-connection webhook)."""
    orgs = _organisations_sending_from(session, to_phone)
    if not orgs:
        return None
    sent_by = set(
        session.exec(
            select(SendAttempt.organisation_id)
            .join(Recipient, Recipient.id == SendAttempt.recipient_id)
            .where(
                Recipient.phone_e164 == from_phone,
                SendAttempt.organisation_id.in_(orgs),
                SendAttempt.sending_at.is_not(None),
            )
            .distinct()
        ).all()
    )
    if len(sent_by) == 1:
        return sent_by.pop()
    if sent_by:
        return None  # several organisations wrote to this phone from this sender
    holders = set(
        session.exec(
            select(Recipient.organisation_id)
            .where(Recipient.phone_e164 == from_phone, Recipient.organisation_id.in_(orgs))
            .distinct()
        ).all()
    )
    return holders.pop() if len(holders) == 1 else None


def find_recipient(
    session: Session, from_phone: str, to_phone: str, *, organisation_id: int | None = None
) -> Recipient | None:
    """The latest recipient with that phone in the organisation whose message
    the reply answers (``route_organisation``); None when that organisation
    cannot be known. A reply to one organisation never lands in (or opts out
    of) another's. ``organisation_id``: the reply came through that
    organisation's own connection (its webhook URL): only its recipients are
    candidates."""
    if organisation_id is None:
        organisation_id = route_organisation(session, from_phone, to_phone)
    if organisation_id is None:
        return None
    return session.exec(
        select(Recipient)
        .where(Recipient.phone_e164 == from_phone, Recipient.organisation_id == organisation_id)
        .order_by(Recipient.id.desc())
    ).first()


def opt_out(
    session: Session,
    organisation_id: int,
    phone: str,
    *,
    source: str = "reply",
    reason: str = "",
    user_id: int | None = None,
) -> int:
    """Put ``phone`` on the organisation's opt-out list, cancel its queued
    attempts and mark its recipients ``opted_out``. Returns attempts cancelled."""
    now = utcnow()
    exists = session.exec(
        select(OptOut).where(OptOut.organisation_id == organisation_id, OptOut.phone_e164 == phone)
    ).first()
    if exists is None:
        session.add(
            OptOut(
                organisation_id=organisation_id,
                phone_e164=phone,
                source=source,
                reason=reason,
                created_by_user_id=user_id,
                created_at=now,
            )
        )
    recipients = session.exec(
        select(Recipient).where(Recipient.organisation_id == organisation_id, Recipient.phone_e164 == phone)
    ).all()
    from smspay_app.services.sending import cancel_queued

    cancelled = len(cancel_queued(session, [r.id for r in recipients], now))
    for recipient in recipients:
        if recipient.status != "paid":
            timeline.record(session, recipient, "opted_out", step="opted_out", at=now, detail={"source": source})
    session.flush()
    return cancelled


def handle_inbound(
    session: Session,
    *,
    from_phone: str,
    to_phone: str,
    body: str,
    provider_message_id: str | None = None,
    organisation_id: int | None = None,
) -> InboundMessage | None:
    """Store a reply; apply an opt-out word. None when this message id was
    already stored (a repeated webhook). ``organisation_id``: it came through
    that organisation's connection (``find_recipient``)."""
    if (
        provider_message_id
        and session.exec(
            select(InboundMessage.id).where(InboundMessage.provider_message_id == provider_message_id)
        ).first()
    ):
        return None
    recipient = find_recipient(session, from_phone, to_phone, organisation_id=organisation_id)
    verdict = opt_out_verdict(body)
    message = InboundMessage(
        organisation_id=recipient.organisation_id if recipient else organisation_id,
        recipient_id=recipient.id if recipient else None,
        from_phone=from_phone,
        to_phone=to_phone,
        body=body[:2000],
        provider_message_id=provider_message_id,
        is_opt_out=verdict == OptOutVerdict.OPT_OUT,
        opt_out_unsure=verdict == OptOutVerdict.UNSURE,
        received_at=utcnow(),
    )
    session.add(message)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    if recipient is not None:
        timeline.record(
            session,
            recipient,
            "sms_reply",
            detail={"inbound_id": message.id, "opt_out": message.is_opt_out, "opt_out_unsure": message.opt_out_unsure},
        )
        if message.is_opt_out:
            opt_out(session, recipient.organisation_id, from_phone, source="reply")
    return message


def opt_out_confirmation_due(session: Session, message: InboundMessage) -> Recipient | None:
    """The recipient to confirm an opt-out by reply to, once: the reply opted
    the number out, the organisation's route carries replies (else the SMS
    said the opt-out is on the page), and no confirmation went to this number
    since it was put on the list. None otherwise."""
    from smspay_app.models import TimelineEvent

    if not message.is_opt_out or message.recipient_id is None or message.organisation_id is None:
        return None
    if not capabilities_of(session, message.organisation_id)[2].two_way:
        return None
    listed = session.exec(
        select(OptOut).where(OptOut.organisation_id == message.organisation_id, OptOut.phone_e164 == message.from_phone)
    ).first()
    if listed is None or listed.source != "reply":
        return None
    recipients = session.exec(
        select(Recipient.id).where(
            Recipient.organisation_id == message.organisation_id, Recipient.phone_e164 == message.from_phone
        )
    ).all()
    confirmed = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.recipient_id.in_(recipients),
            TimelineEvent.kind == "opt_out_confirmed",
            TimelineEvent.at >= listed.created_at,
        )
    ).first()
    if confirmed is not None:
        return None
    return session.get(Recipient, message.recipient_id)


def prepare_opt_out_confirmation(session: Session, message: InboundMessage) -> tuple[Recipient, str] | None:
    """The opt-out confirmation SMS due for ``message`` (once:
    ``opt_out_confirmation_due``) as (recipient, text), in the campaign's
    recipient language, recorded on the timeline (``opt_out_confirmed``) so a
    repeated webhook never sends it twice. Flushes; the entry point commits,
    then sends it through the one-off SMS path (``journey.send_otp_sms``: the
    campaign's connection, as for codes and vouchers) outside the transaction."""
    from smspay_app.i18n import t
    from smspay_app.models import Campaign
    from smspay_app.services import sms_message

    recipient = opt_out_confirmation_due(session, message)
    if recipient is None:
        return None
    org = session.get(Organisation, recipient.organisation_id)
    campaign = session.get(Campaign, recipient.campaign_id)
    lang = campaign.recipient_language if campaign else "ja"
    text = t("sms.opt_out_confirmation", lang, prefix=sms_message.sender_prefix(org), org=org.name)
    timeline.record(session, recipient, "opt_out_confirmed", detail={"inbound_id": message.id})
    session.flush()
    return recipient, text
