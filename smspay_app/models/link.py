from __future__ import annotations

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Link(SQLModel, table=True):
    """A recipient's short link. Only the token's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    token_hash: str = Field(unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    revoked_at: NaiveDatetime | None = None
    revoked_reason: str = ""
    locked_at: NaiveDatetime | None = None
    failed_attempts: int = 0
    # First POST on this link (the person's click; GET/HEAD never set it).
    clicked_at: NaiveDatetime | None = None
    # One-time code mode: the current code's hash, when sent, tries used.
    otp_hash: str | None = None
    otp_sent_at: NaiveDatetime | None = None
    otp_sends: int = 0
    otp_tries: int = 0
    # Short-lived session after verification: hash of the cookie's value.
    session_hash: str | None = None
    session_expires_at: NaiveDatetime | None = None
    # After a wrong answer: the non-secret answers as typed, JSON
    # {"key": sha256 of the redirect's random key, "until": ISO time, "values":
    # {question id: text}} (services.journey.keep_answers); '' otherwise.
    kept_answers: str = ""
