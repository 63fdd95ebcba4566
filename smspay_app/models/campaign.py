from __future__ import annotations

from datetime import date

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


def _settings():
    from smspay_app.settings import get_settings

    return get_settings()


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str
    status: str = Field(default="draft", index=True)  # a domain.campaigns.CampaignStatus
    # SMS text with merge fields such as {name} and the link placeholder {link}.
    sms_template: str = ""
    # The recipient page: a message (with merge fields) and optional invoice.
    page_title: str = ""
    page_message: str = ""
    payment_enabled: bool = True
    amount_yen: int = 0  # default amount; a CSV column can set it per recipient
    due_date: date | None = None
    ask_read_confirmation: bool = False
    verification_mode: str = "questions"  # questions | otp
    # The campaign owns its wrong-answer limit (services.journey locks the link
    # at it); a new campaign takes ``settings.max_wrong_answers``.
    max_wrong_answers: int = Field(default_factory=lambda: _settings().max_wrong_answers)
    link_lifetime_hours: int = 72
    scheduled_at: NaiveDatetime | None = None
    quiet_hours_start: str | None = None  # None: the organisation's
    quiet_hours_end: str | None = None
    reminder_rules: str = "[]"  # JSON list of rules
    reminder_template: str = ""
    # The organisation's connections this campaign uses (None: the organisation's
    # default, else the environment's fallback; services.connections resolves it).
    sms_connection_id: int | None = Field(default=None, foreign_key="connection.id")
    payment_connection_id: int | None = Field(default=None, foreign_key="connection.id")
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    send_started_at: NaiveDatetime | None = None
    completed_at: NaiveDatetime | None = None
    # The configured end: an active (or paused) campaign is closed then
    # (``domain.campaigns.close``); None: only the operator closes it.
    closes_at: NaiveDatetime | None = None
    # Why the system paused it: an i18n key ("" when an operator paused it).
    paused_reason: str = ""
    # The language its recipients read (default texts, SMS, pages): "ja" or
    # "en", never the operator's UI language (issue 15 item 11).
    recipient_language: str = "ja"


class CampaignQuestion(SQLModel, table=True):
    """An identity question shown before anything private; up to 4 a campaign.
    The expected answer comes from a recipient column and is stored hashed."""

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int = 0
    label: str
    column: str  # the CSV/API field holding the expected answer
    kind: str = "text"  # date | digits | text | secret


class InvoiceLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int = 0
    item: str
    quantity: int = 1
    unit_price_yen: int = 0
    # Consumption tax rate in percent of this tax-included line: 10, or 8 (reduced).
    tax_rate: int = 10
