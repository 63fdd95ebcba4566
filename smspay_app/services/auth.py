"""Admin sign-in: argon2id password check, server-side sessions that expire,
role checks. The browser holds a random session token; the DB keeps its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.security import hash_password, hash_token, new_token, verify_password
from smspay_app.models import AuditLog, AuthSession, Organisation, User
from smspay_app.settings import get_settings

ROLES = ("admin", "operator", "support")
# What each role may do. Checked on the server in every handler.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({
        "campaign.view", "campaign.edit", "campaign.send", "recipient.support", "recipient.export",
        "optout.manage", "settings.manage",
    }),
    "operator": frozenset({
        "campaign.view", "campaign.edit", "campaign.send", "recipient.support", "recipient.export", "optout.manage",
    }),
    "support": frozenset({"campaign.view", "recipient.support", "optout.manage"}),
}


class NotAllowed(PermissionError):
    """The caller is not signed in, or its role does not allow the action."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: enough to check permissions and scope every query."""

    user_id: int
    organisation_id: int
    role: str
    email: str
    display_name: str
    language: str
    organisation_name: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> "Caller":
        if not self.can(permission):
            raise NotAllowed(permission)
        return self


# A fixed hash so a sign-in for an unknown e-mail costs as much as a real one.
_DUMMY_HASH = hash_password("not-a-real-password")


def sign_in(session: Session, email: str, password: str) -> tuple[str, Caller] | None:
    """Check the credentials; on success create a session and return its raw
    token (for the browser's cookie) and the caller."""
    email = (email or "").strip().lower()
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None or not user.is_active:
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(user.password_hash, password or ""):
        return None
    now = utcnow()
    token = new_token(32)
    session.add(
        AuthSession(
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(hours=get_settings().admin_session_hours),
        )
    )
    user.last_login_at = now
    session.add(user)
    session.add(AuditLog(organisation_id=user.organisation_id, user_id=user.id, action="auth.sign_in"))
    session.commit()
    caller = caller_for_token(session, token)
    assert caller is not None
    return token, caller


def caller_for_token(session: Session, token: str | None) -> Caller | None:
    """The signed-in user for a session token, or None when unknown, expired,
    revoked or the user was deactivated."""
    if not token:
        return None
    row = session.exec(
        select(AuthSession, User, Organisation)
        .join(User, User.id == AuthSession.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(AuthSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    auth, user, org = row
    if auth.revoked_at is not None or auth.expires_at <= utcnow() or not user.is_active:
        return None
    return Caller(
        user_id=user.id,
        organisation_id=org.id,
        role=user.role,
        email=user.email,
        display_name=user.display_name or user.email,
        language=user.language,
        organisation_name=org.name,
    )


def sign_out(session: Session, token: str | None) -> None:
    if not token:
        return
    auth = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).first()
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = utcnow()
        session.add(auth)
        session.commit()


def create_user(
    session: Session,
    organisation: Organisation,
    email: str,
    password: str,
    role: str = "operator",
    display_name: str = "",
    language: str = "ja",
) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role: {role}")
    if len(password) < 10:
        raise ValueError("password too short")
    user = User(
        organisation_id=organisation.id,
        email=email.strip().lower(),
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        language=language,
    )
    session.add(user)
    session.flush()
    return user


def ensure_demo(session: Session) -> tuple[Organisation, User] | None:
    """First start: a demo organisation and admin (settings.demo_*). Returns
    them when created now, None when any user already exists."""
    if session.exec(select(User)).first() is not None:
        return None
    settings = get_settings()
    org = Organisation(
        name="デモ商事株式会社",
        sender_name="デモ商事",
        timezone=settings.timezone,
        support_phone="0120-000-000",
    )
    session.add(org)
    session.flush()
    user = create_user(
        session, org, settings.demo_email, settings.demo_password, role="admin", display_name="デモ管理者"
    )
    session.commit()
    return org, user
