"""Test data for the operations area: staff users of each role (with a
signed-in caller) in an organisation, a sending campaign with recipients."""

from __future__ import annotations

from sqlmodel import Session

from smspay_app.models import Organisation
from smspay_app.services import auth


def make_user(session: Session, org: Organisation, role: str, email: str | None = None) -> auth.Caller:
    email = email or f"{role}-{org.id}@example.com"
    user = auth.create_user(session, org, email, "password-123456", role=role, display_name=f"{role} {org.id}")
    session.commit()
    return auth.Caller(
        user_id=user.id,
        organisation_id=org.id,
        role=role,
        email=user.email,
        display_name=user.display_name,
        language="ja",
        organisation_name=org.name,
    )


def sign_in_token(session: Session, email: str) -> str:
    token, _caller = auth.sign_in(session, email, "password-123456")
    session.commit()  # the service flushes; handlers read the session on their own connection
    return token
