from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Payment(SQLModel, table=True):
    """One hand-over to the payment gateway (a Checkout Session)."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    amount_yen: int
    currency: str = "jpy"
    provider: str = ""
    # the organisation's payment connection it went through (None: the
    # environment's fallback account); webhooks, refunds and expiries use it
    payment_connection_id: int | None = Field(default=None, foreign_key="connection.id")
    provider_session_id: str = Field(unique=True, index=True)
    checkout_url: str = ""
    status: str = "open"  # open | processing | succeeded | failed | expired | cancelled | manual | partial (a part received outside the system: not paid)
    method: str = ""  # card | bank | konbini | manual
    provider_customer_id: str = ""  # the gateway's customer (bank transfer needs one)
    provider_payment_intent: str = ""  # set by the gateway once the person completes checkout
    # konbini / bank transfer: the voucher's deadline (naive UTC) and the
    # gateway's ``next_action`` as JSON (store numbers, bank account, voucher URL)
    expires_at: NaiveDatetime | None = None
    voucher_json: str = ""
    refunded_yen: int = 0  # refunded through the gateway (automatic duplicate refunds and support refunds)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    paid_at: NaiveDatetime | None = None
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


class WebhookEvent(SQLModel, table=True):
    """Inbound webhook event ids already processed (deduplication)."""

    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str  # stripe | twilio
    event_id: str
    received_at: NaiveDatetime = Field(default_factory=utcnow)
