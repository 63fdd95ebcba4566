"""Second-factor sign-in: one-time recovery codes and the short-lived pending
challenge between the password step and the TOTP step."""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class RecoveryCode(SQLModel, table=True):
    """A TOTP recovery code, stored only as a keyed hash; single use."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    code_hash: str
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    used_at: NaiveDatetime | None = None


class SignInChallenge(SQLModel, table=True):
    """The password was right; a second step is still due. Not a session: it
    opens no page. ``purpose`` is ``totp`` (enter a code) or ``enrol`` (the
    organisation requires TOTP and the user must set it up first)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(unique=True, index=True)
    purpose: str = "totp"
    failed_tries: int = 0
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    used_at: NaiveDatetime | None = None


class SetupToken(SQLModel, table=True):
    """The one-time link that lets the installation owner create their account
    on a fresh install (stored only as a hash; single use, expires)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    used_at: NaiveDatetime | None = None


class SignupApplication(SQLModel, table=True):
    """A business asking for an account (self-service sign-up, off by
    default). The owner approves (an organisation and its first admin are
    made; the invite is shown to the owner to forward) or rejects with a reason."""

    id: int | None = Field(default=None, primary_key=True)
    business_name: str
    contact_name: str = ""
    email: str = Field(index=True)
    phone: str = ""
    note: str = ""
    status: str = "pending"  # pending | approved | rejected
    reason: str = ""
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    decided_by_user_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    decided_at: NaiveDatetime | None = None


class SignInFailure(SQLModel, table=True):
    """One wrong password, counted by a keyed hash of who tried (the address
    and the account together, or the address alone): kept in the database so
    a restart does not reset the back-off (issue 18, item 11). Rows older
    than the window are deleted as new ones come."""

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(index=True)
    at: NaiveDatetime = Field(default_factory=utcnow, index=True)
