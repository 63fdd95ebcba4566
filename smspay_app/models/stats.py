from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from smspay_app.models.messaging import SendAttempt


class CampaignStats(SQLModel, table=True):
    """Maintained funnel counters of one campaign (``services.stats``): a cache
    of the COUNT over the recipients' first-step timestamps, updated in the
    same transaction as every recipient change, so the dashboard reads one row
    instead of scanning a million. The recipients stay the source of truth:
    ``services.stats.rebuild`` re-derives a row from them."""

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    recipients: int = 0
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    verified: int = 0
    paid: int = 0
    failed: int = 0
    paid_yen: int = 0
    total_yen: int = 0


class CampaignStatsHour(SQLModel, table=True):
    """Maintained clicks and payments of one campaign in one UTC hour (the
    first ``clicked_at`` / ``paid_at`` of each recipient), for the dashboard's
    time series; kept with ``CampaignStats`` by ``services.stats``."""

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    hour: NaiveDatetime = Field(primary_key=True)  # naive UTC, minutes zero
    organisation_id: int = Field(foreign_key="organisation.id")
    clicks: int = 0
    payments: int = 0


# Reminder counts read one campaign's reminder attempts (declared here so the
# dashboard's schema lives in one module).
Index(
    "ix_attempt_campaign_kind_status",
    SendAttempt.__table__.c.campaign_id,
    SendAttempt.__table__.c.kind,
    SendAttempt.__table__.c.status,
)
