from __future__ import annotations

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    # Shown as a prefix such as 【name】 so recipients see who writes.
    sender_name: str = ""
    # Provider sender identity: a phone number or an alphanumeric sender id.
    sender_id: str = ""
    timezone: str = "Asia/Tokyo"
    default_region: str = "JP"
    allow_foreign_numbers: bool = False
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "08:00"
    support_phone: str = ""
    # The organisation's official web address (https), shown on the identity
    # page so a recipient can check who writes before answering (issue 14).
    official_url: str = ""
    segment_price_yen: float = 10.0
    carrier_char_cap: int = 660
    require_totp: bool = False
    data_retention_days: int = 365
    # REST API: refuse every key that has no IP allowlist.
    require_api_allowlist: bool = False
    # Set (an i18n key) when the SMS provider refused the account or the sender
    # (bad credentials, suspended account, invalid sender): the dispatcher sends
    # nothing for this organisation until an operator resumes a campaign.
    sending_paused_reason: str = ""
    # Installation lifecycle (services/installation.py): ``business`` tenants,
    # and the one ``installation`` row that holds the installation owner (it
    # never has campaigns). ``status``: active | suspended (nothing is sent,
    # recipient pages show a notice, API keys get 403) | deleted (personal
    # data erased; audit and usage kept).
    kind: str = "business"
    status: str = "active"
    status_changed_at: NaiveDatetime | None = None
    # SMS per calendar month (organisation's time zone) before sending pauses; 0: no cap.
    monthly_sms_cap: int = 0
    # Qualified-invoice (適格請求書) registration number "T" + 13 digits; "" when not registered.
    invoice_registration_number: str = ""
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    email: str = Field(unique=True, index=True)
    display_name: str = ""
    password_hash: str
    role: str = "operator"  # admin | operator | support
    language: str = "ja"  # ja | en
    totp_secret: str | None = None  # set once the user confirmed enrolment with a code
    totp_pending_secret: str | None = None  # enrolment started, not yet confirmed
    totp_enabled_at: NaiveDatetime | None = None
    totp_last_counter: int = 0  # last accepted 30 s step: a code works once
    # Set with a temporary password (invite, reset): nothing but the account
    # page works until the user picks their own.
    must_change_password: bool = False
    is_active: bool = True
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    last_login_at: NaiveDatetime | None = None


class AuthSession(SQLModel, table=True):
    """A signed-in browser. The browser holds the token; we keep only its hash."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    revoked_at: NaiveDatetime | None = None


class AuditLog(SQLModel, table=True):
    """Who did what, when and why (staff actions, settings changes, sign-ins)."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    action: str
    target_type: str = ""
    target_id: int | None = None
    reason: str = ""
    detail: str = "{}"  # JSON
    at: NaiveDatetime = Field(default_factory=utcnow, index=True)
