"""Users for the settings/account tests: an organisation with an admin and
others, signed in through the real sign-in service."""

from __future__ import annotations

from sqlmodel import Session

from smspay_app.models import Organisation, User
from smspay_app.services import auth

PASSWORD = "correct horse battery"


def make_user(session: Session, org: Organisation, role: str = "operator", email: str | None = None) -> User:
    user = auth.create_user(session, org, email or f"{role}-{org.id}@example.com", PASSWORD, role=role)
    session.commit()
    return user


def signed_in(
    session: Session, org: Organisation, role: str = "operator", email: str | None = None
) -> tuple[str, auth.Caller]:
    user = make_user(session, org, role, email)
    result = auth.sign_in(session, user.email, PASSWORD)
    assert result is not None
    session.commit()  # the service flushes; handlers read the session on their own connection
    return result
