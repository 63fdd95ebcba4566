"""Personal-data retention, per recipient: once the organisation's
``data_retention_days`` have passed since a recipient's **last activity**
(its newest timeline event or step time, or its import), its personal data
is erased, whatever its campaign's state (a draft's imported recipients
too): phone number (replaced by a non-reversible placeholder; the API shows
``phone: null``), name, merge data, external reference, identity answers,
the bodies and sender numbers of its SMS replies, the free-text reasons
staff typed about it in the audit log, the provider's error texts of its
SMS, and the reference in the payloads of its outbound webhook deliveries.
API idempotency records (full response bodies) are deleted once their 24 h
are over. On SQLite the erased cells are overwritten (``secure_delete``) and
the write-ahead log is checkpointed, so no old copy stays in either file.
Status, step timestamps and amounts stay, so the funnel counts and totals
on the dashboard do not change.

Issue 18, item 13: after a campaign's erasure, staff reasons ("ご家族(高橋様
090-...)"), webhook payloads (``CUST-0001``...), idempotency records a year
later and the WAL still held personal data; a draft's recipients survived
3,650 days, and every API add-and-send reset the campaign's completion
time (the first API recipient was kept 565 days under a 365-day setting).

Set-based SQL per batch of recipients, idempotent (``erased_at IS NULL``
guards every row), safe to run in several processes at once. One audit row
per campaign erased. Opt-outs are kept: they are the record that a number
must not be messaged again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, delete, exists, func, literal, update
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.models import (
    AuditLog,
    Campaign,
    IdentityAnswer,
    InboundMessage,
    Link,
    Organisation,
    Recipient,
    SendAttempt,
    TimelineEvent,
    WebhookDelivery,
)

ERASED_PHONE_PREFIX = "erased-"
IDEMPOTENCY_WINDOW = timedelta(hours=24)  # web.api.IDEMPOTENCY_TTL


@dataclass(frozen=True)
class ErasedCampaign:
    organisation_id: int
    campaign_id: int
    recipients: int


_STEPS = (
    "queued_at",
    "sent_at",
    "delivered_at",
    "clicked_at",
    "verified_at",
    "read_at",
    "paid_at",
    "failed_at",
    "expired_at",
    "locked_at",
    "opted_out_at",
    "cancelled_at",
)
BATCH = 2000


def last_activity(row) -> datetime:
    """A recipient's last activity: its newest timeline event, step time or
    import (``row`` has ``created_at``, the step columns and ``last_event``)."""
    times = [row.created_at, row.last_event, *(getattr(row, step) for step in _STEPS)]
    return max(t for t in times if t is not None)


def due_recipients(session: Session, now: datetime) -> list[tuple[int, int]]:
    """(campaign id, recipient id) of every recipient past its organisation's
    retention since its last activity, with personal data still held and no
    SMS waiting to go out."""
    from smspay_app.domain import attempts as attempt_machine

    last_event = select(func.max(TimelineEvent.at)).where(TimelineEvent.recipient_id == Recipient.id).scalar_subquery()
    pending = exists().where(
        SendAttempt.recipient_id == Recipient.id, SendAttempt.status.in_(list(attempt_machine.PENDING))
    )
    due: list[tuple[int, int]] = []
    for org in session.exec(select(Organisation)).all():
        cutoff = now - timedelta(days=org.data_retention_days)
        rows = session.execute(
            select(
                Recipient.id,
                Recipient.campaign_id,
                Recipient.created_at,
                *(getattr(Recipient, step) for step in _STEPS),
                last_event.label("last_event"),
            ).where(
                Recipient.organisation_id == org.id,
                Recipient.erased_at.is_(None),
                Recipient.created_at <= cutoff,
                ~pending,
            )
        ).all()
        due.extend((row.campaign_id, row.id) for row in rows if last_activity(row) <= cutoff)
    return due


def due_campaigns(session: Session, now: datetime) -> list[tuple[Campaign, Organisation]]:
    """The campaigns with recipients due (see ``due_recipients``)."""
    ids = sorted({campaign_id for campaign_id, _ in due_recipients(session, now)})
    out = []
    for campaign_id in ids:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            out.append((campaign, session.get(Organisation, campaign.organisation_id)))
    return out


def _scrub_webhook_payloads(session: Session, recipient_ids: list[int]) -> None:
    """The business's reference leaves the payloads of these recipients'
    deliveries (the only personal data a payload carries). One query per
    batch: the deliveries of their organisations that still carry one."""
    wanted = set(recipient_ids)
    orgs = select(Recipient.organisation_id).where(Recipient.id.in_(recipient_ids)).distinct()
    rows = session.exec(
        select(WebhookDelivery).where(
            WebhookDelivery.organisation_id.in_(orgs),
            WebhookDelivery.payload.not_like('%"reference":null%'),
        )
    ).all()
    for delivery in rows:
        try:
            body = json.loads(delivery.payload)
        except ValueError:
            continue
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and data.get("recipient_id") in wanted:
            data["reference"] = None
            delivery.payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            delivery.last_response_excerpt = ""
            session.add(delivery)


def erase_recipients(session: Session, recipient_ids: list[int], now: datetime) -> int:
    """Erase the personal data of these recipients (those not erased yet);
    returns how many were erased now. Flushes."""
    if not recipient_ids:
        return 0
    _secure_delete(session)
    ids = list(recipient_ids)
    live = select(Recipient.id).where(Recipient.id.in_(ids), Recipient.erased_at.is_(None))
    live_ids = list(session.execute(live).scalars())
    if not live_ids:
        return 0
    session.execute(delete(IdentityAnswer).where(IdentityAnswer.recipient_id.in_(live_ids)))
    session.execute(
        update(Link)
        .where(Link.recipient_id.in_(live_ids), Link.kept_answers != "")
        .values(kept_answers="")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.recipient_id.in_(live_ids))
        .values(body="", from_phone=ERASED_PHONE_PREFIX + "reply")
    )
    session.execute(
        update(AuditLog)
        .where(AuditLog.target_type == "recipient", AuditLog.target_id.in_(live_ids))
        .values(reason="")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SendAttempt)
        .where(SendAttempt.recipient_id.in_(live_ids))
        .values(error_message="")
        .execution_options(synchronize_session=False)
    )
    _scrub_webhook_payloads(session, live_ids)
    result = session.execute(
        update(Recipient)
        .where(Recipient.id.in_(live_ids), Recipient.erased_at.is_(None))
        .values(
            phone_e164=literal(ERASED_PHONE_PREFIX) + cast(Recipient.id, String),
            name="",
            merge_data="{}",
            external_ref="",
            carrier="",
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)


def erase_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Erase the personal data of every recipient of one campaign (whatever
    its activity); returns how many recipients were erased now. Flushes."""
    ids = list(
        session.execute(
            select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.erased_at.is_(None))
        ).scalars()
    )
    erased = 0
    for i in range(0, len(ids), BATCH):
        erased += erase_recipients(session, ids[i : i + BATCH], now)
    _audit_erasure(session, campaign.organisation_id, campaign.id, erased, now)
    return erased


def _audit_erasure(session: Session, organisation_id: int, campaign_id: int, erased: int, now: datetime) -> None:
    if erased:
        session.add(
            AuditLog(
                organisation_id=organisation_id,
                action="retention.erase",
                target_type="campaign",
                target_id=campaign_id,
                detail=json.dumps({"recipients": erased}),
                at=now,
            )
        )
        session.flush()


def _secure_delete(session: Session) -> None:
    """On SQLite, overwrite what is deleted or replaced (no old value left in
    free pages of the file)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def purge_idempotency_records(session: Session, now: datetime) -> int:
    """Delete API idempotency records past their 24 hours (they keep whole
    response bodies: phones, names, references)."""
    from smspay_app.models import IdempotencyRecord

    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_WINDOW))
    return int(result.rowcount or 0)


def checkpoint(engine) -> None:
    """SQLite: move the write-ahead log into the database file and empty it, so
    erased values do not stay in the WAL. After the erasure is committed."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def erase_due(session: Session, now: datetime | None = None) -> list[ErasedCampaign]:
    """Erase every recipient due at ``now`` (default: the clock), one audit row
    per campaign, and purge expired idempotency records. Flushes."""
    now = now or utcnow()
    _secure_delete(session)
    purge_idempotency_records(session, now)
    by_campaign: dict[int, list[int]] = {}
    for campaign_id, rid in due_recipients(session, now):
        by_campaign.setdefault(campaign_id, []).append(rid)
    done: list[ErasedCampaign] = []
    for campaign_id, ids in sorted(by_campaign.items()):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            continue
        erased = 0
        for i in range(0, len(ids), BATCH):
            erased += erase_recipients(session, ids[i : i + BATCH], now)
        _audit_erasure(session, campaign.organisation_id, campaign_id, erased, now)
        if erased:
            done.append(ErasedCampaign(campaign.organisation_id, campaign_id, erased))
    session.flush()
    return done
