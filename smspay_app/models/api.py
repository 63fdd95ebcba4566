"""The REST API and outbound webhooks: API keys (hashed, scoped, IP
allowlist), idempotency records, webhook endpoints and their deliveries."""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow

API_SCOPES = ("read", "send", "manage")

# Recipient events a webhook endpoint can subscribe to.
WEBHOOK_EVENT_TYPES = (
    "recipient.delivered",
    "recipient.failed",
    "recipient.clicked",
    "recipient.verified",
    "recipient.paid",
    "recipient.expired",
    "recipient.replied",
    "recipient.opted_out",
    "payment.refunded",
)


class ApiKey(SQLModel, table=True):
    """A server-to-server credential. The secret is shown once; only its
    SHA-256 is kept (it carries 190 random bits). ``prefix`` is public (shown in
    the UI, used to find the row)."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str
    prefix: str = Field(unique=True, index=True)
    secret_hash: str
    scopes: str = "read"  # space separated subset of API_SCOPES
    allowlist: str = ""  # addresses / CIDR ranges, space separated; empty: anywhere (unless the org requires one)
    rate_limit_per_minute: int = 120
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    revoked_at: NaiveDatetime | None = None
    last_used_at: NaiveDatetime | None = None


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST with an ``Idempotency-Key`` (24 h)."""

    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    api_key_id: int = Field(foreign_key="apikey.id")
    key: str
    request_hash: str
    status_code: int | None = None  # None while the first request runs
    response_body: str = ""
    created_at: NaiveDatetime = Field(default_factory=utcnow, index=True)


class WebhookEndpoint(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    url: str
    description: str = ""
    secret: str  # whsec_<base64>: needed to sign, so kept (shown once in the UI)
    event_types: str = ""  # space separated subset of WEBHOOK_EVENT_TYPES
    active: bool = True
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    disabled_at: NaiveDatetime | None = None


DELIVERY_STATES = ("pending", "sending", "delivered", "failed")


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint, retried with backoff for more than 3 days."""

    __table_args__ = (Index("ix_webhookdelivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    event_id: str = Field(index=True)  # msg_...: the same for every try and re-send
    event_type: str
    payload: str  # the exact JSON body sent
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: NaiveDatetime = Field(default_factory=utcnow)
    lease_expires_at: NaiveDatetime | None = None
    last_attempt_at: NaiveDatetime | None = None
    last_status_code: int | None = None
    last_error: str = ""
    last_response_excerpt: str = ""
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    delivered_at: NaiveDatetime | None = None
    resent_from_id: int | None = None
