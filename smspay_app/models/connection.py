from __future__ import annotations

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class Connection(SQLModel, table=True):
    """An organisation's own account at an SMS provider or a payment company
    (``services.connections`` owns every rule about it).

    ``config`` holds the provider's non-secret fields (JSON: API base, account
    SID, tenant and service ids, sender); ``secret_sealed`` the credentials
    (JSON, sealed like TOTP secrets: ``services.totp.seal``), shown once and
    afterwards only as ``secret_last4``. ``public_id`` names the connection in
    its callback URLs; ``webhook_secret_sealed`` verifies those callbacks."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str  # sms | payment
    provider: str  # sms: simulator | twilio | karaden; payment: sandbox | stripe | komoju
    label: str = ""
    public_id: str = Field(unique=True, index=True)
    config: str = "{}"
    secret_sealed: str = ""
    secret_last4: str = ""
    webhook_secret_sealed: str = ""
    is_default: bool = False
    disabled_at: NaiveDatetime | None = None
    created_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    last_tested_at: NaiveDatetime | None = None
    last_test_result: str = ""  # ok | an i18n key
