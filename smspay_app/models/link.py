from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Link(SQLModel, table=True):
    """A recipient's short link. Only the token's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    token_hash: str = Field(unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str = ""
    locked_at: datetime | None = None
    failed_attempts: int = 0
    # One-time code mode: the current code's hash, when sent, tries used.
    otp_hash: str | None = None
    otp_sent_at: datetime | None = None
    otp_sends: int = 0
    otp_tries: int = 0
    # Short-lived session after verification: hash of the cookie's value.
    session_hash: str | None = None
    session_expires_at: datetime | None = None
