from __future__ import annotations

from datetime import date

from pydantic import NaiveDatetime
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Recipient(SQLModel, table=True):
    """One person in one campaign. Status follows ``domain.funnel``; each step
    keeps its own first timestamp."""

    __table_args__ = (
        Index("ix_recipient_campaign_status", "campaign_id", "status"),
        Index("ix_recipient_campaign_phone", "campaign_id", "phone_e164"),
        Index("ix_recipient_org_phone", "organisation_id", "phone_e164"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    organisation_id: int = Field(foreign_key="organisation.id")
    phone_e164: str
    name: str = ""
    merge_data: str = "{}"  # JSON object of the row's other columns
    amount_yen: int = 0
    # Recorded partial payments outside the system (actions.record_partial_payment):
    # the recipient stays unpaid, what is outstanding is amount_yen minus this.
    partial_paid_yen: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # the recipient's own invoice lines (CSV "明細" column or the API), JSON
    # [[item, quantity, unit price], ...]; '' = the campaign's lines, if they add up
    invoice_lines_json: str = ""
    due_date: date | None = None
    external_ref: str = ""  # customer number / order id from the business
    row_number: int | None = None
    carrier: str = ""
    status: str = "created"
    failed_answer_count: int = 0
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    queued_at: NaiveDatetime | None = None
    sent_at: NaiveDatetime | None = None
    delivered_at: NaiveDatetime | None = None
    clicked_at: NaiveDatetime | None = None
    verified_at: NaiveDatetime | None = None
    read_at: NaiveDatetime | None = None
    paid_at: NaiveDatetime | None = None
    failed_at: NaiveDatetime | None = None
    expired_at: NaiveDatetime | None = None
    locked_at: NaiveDatetime | None = None
    opted_out_at: NaiveDatetime | None = None
    cancelled_at: NaiveDatetime | None = None
    erased_at: NaiveDatetime | None = None  # personal data removed by retention


class IdentityAnswer(SQLModel, table=True):
    """The expected answer to one question for one recipient, as a keyed hash of
    its normalised form. Never shown back to anyone."""

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    question_id: int = Field(foreign_key="campaignquestion.id")
    answer_hash: str


class TimelineEvent(SQLModel, table=True):
    __table_args__ = (Index("ix_timeline_recipient_at", "recipient_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id")
    kind: str  # imported, queued, sms_sending, sent, delivered, failed, preview, visit, click, ...
    at: NaiveDatetime = Field(default_factory=utcnow)
    detail: str = "{}"  # JSON; never personal data
    actor_user_id: int | None = Field(default=None, foreign_key="user.id")


class RecipientImport(SQLModel, table=True):
    """One CSV upload: progress and the row-level report."""

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    filename: str = ""
    status: str = "pending"  # pending | running | done | failed
    total_rows: int = 0
    processed_rows: int = 0
    imported_rows: int = 0
    rejected_rows: int = 0
    duplicate_rows: int = 0
    opted_out_rows: int = 0
    errors: str = "[]"  # JSON list of {row, column, reason}
    message: str = ""
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    finished_at: NaiveDatetime | None = None
