"""Personal-data retention: after a campaign's first send ends (active, closed or cancelled) and
the organisation's ``data_retention_days`` have passed, its recipients'
personal data is erased: phone number (replaced by a non-reversible
placeholder), name, merge data, external reference, identity answers, and the
bodies and sender numbers of their SMS replies. Status, step timestamps and
amounts stay, so the funnel counts and totals on the dashboard do not change.

Set-based SQL per campaign (a 100k-recipient campaign is a few statements),
idempotent (``erased_at IS NULL`` guards every row), safe to run in several
processes at once. One audit row per campaign erased. Opt-outs are kept: they
are the record that a number must not be messaged again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, delete, exists, literal, update
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.models import AuditLog, Campaign, IdentityAnswer, InboundMessage, Organisation, Recipient

ERASED_PHONE_PREFIX = "erased-"


@dataclass(frozen=True)
class ErasedCampaign:
    organisation_id: int
    campaign_id: int
    recipients: int


def due_campaigns(session: Session, now: datetime) -> list[tuple[Campaign, Organisation]]:
    """Ended campaigns past their organisation's retention that still hold
    personal data."""
    out: list[tuple[Campaign, Organisation]] = []
    for org in session.exec(select(Organisation)).all():
        cutoff = now - timedelta(days=org.data_retention_days)
        rows = session.exec(
            select(Campaign)
            .where(
                Campaign.organisation_id == org.id,
                Campaign.status.in_(("active", "closed", "cancelled")),
                Campaign.completed_at.is_not(None),
                Campaign.completed_at <= cutoff,
                exists().where(Recipient.campaign_id == Campaign.id, Recipient.erased_at.is_(None)),
            )
            .order_by(Campaign.completed_at)
        ).all()
        out.extend((c, org) for c in rows)
    return out


def erase_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Erase the personal data of one campaign's recipients; returns how many
    recipients were erased now. Commits."""
    pending = select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.erased_at.is_(None))
    session.execute(delete(IdentityAnswer).where(IdentityAnswer.recipient_id.in_(pending)))
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.recipient_id.in_(pending))
        .values(body="", from_phone=ERASED_PHONE_PREFIX + "reply")
    )
    result = session.execute(
        update(Recipient)
        .where(Recipient.campaign_id == campaign.id, Recipient.erased_at.is_(None))
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
    erased = result.rowcount or 0
    if erased:
        session.add(
            AuditLog(
                organisation_id=campaign.organisation_id,
                action="retention.erase",
                target_type="campaign",
                target_id=campaign.id,
                detail=json.dumps({"recipients": erased}),
                at=now,
            )
        )
    session.flush()
    return erased


def erase_due(session: Session, now: datetime | None = None) -> list[ErasedCampaign]:
    """Erase every campaign that is due at ``now`` (default: the clock)."""
    now = now or utcnow()
    done: list[ErasedCampaign] = []
    for campaign, org in due_campaigns(session, now):
        n = erase_campaign(session, campaign, now)
        if n:
            done.append(ErasedCampaign(org.id, campaign.id, n))
    return done
