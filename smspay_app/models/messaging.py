from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class SendAttempt(SQLModel, table=True):
    """One try at sending one SMS. Separate from the recipient so retries,
    reminders and reissues each keep their own record."""

    __table_args__ = (
        Index("ix_attempt_status_not_before", "status", "not_before"),
        Index("ix_attempt_provider_id", "provider_message_id"),
        Index("ix_attempt_org_accepted", "organisation_id", "accepted_at"),  # usage per month
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    kind: str = "initial"  # initial | reminder | reissue | resend | otp
    status: str = "queued"  # a domain.attempts.AttemptStatus; changed only through that machine
    idempotency_key: str = Field(unique=True)
    try_number: int = 1
    not_before: NaiveDatetime = Field(default_factory=utcnow)
    lease_owner: str | None = None
    lease_expires_at: NaiveDatetime | None = None
    provider: str = ""
    # The SMS connection that sent it (None: the environment's fallback): polls,
    # reconciliation and callbacks ask that same account.
    sms_connection_id: int | None = Field(default=None, foreign_key="connection.id")
    provider_message_id: str | None = None
    error_code: str = ""
    error_message: str = ""
    segments: int = 0
    held_for_quiet_hours: bool = False
    # A staff action (support reissue/resend) explicitly chose to send now,
    # inside quiet hours: the dispatcher does not hold this attempt.
    ignore_quiet_hours: bool = False
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    sending_at: NaiveDatetime | None = None
    accepted_at: NaiveDatetime | None = None
    final_at: NaiveDatetime | None = None
    last_polled_at: NaiveDatetime | None = None


class OptOut(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("organisation_id", "phone_e164"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    phone_e164: str
    reason: str = ""
    source: str = "manual"  # manual | reply | import | api
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class InboundMessage(SQLModel, table=True):
    """A reply to one of our SMS (two-way)."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    recipient_id: int | None = Field(default=None, foreign_key="recipient.id", index=True)
    from_phone: str
    to_phone: str = ""
    body: str = ""
    provider_message_id: str | None = Field(default=None, unique=True)
    is_opt_out: bool = False
    # It may be an opt-out but is not certain (``domain.opt_out``): for the desk.
    opt_out_unsure: bool = False
    received_at: NaiveDatetime = Field(default_factory=utcnow)
