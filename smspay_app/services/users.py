"""Users and roles of one organisation (admins: ``users.manage``), and each
user's own profile (name, language, password).

Every query is scoped to the caller's organisation: a user id from another
organisation is simply "not found". The last active admin can be neither
demoted nor deactivated. Every change writes an audit row (no passwords)."""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from smspay_app.domain.errors import Refused
from smspay_app.domain.security import hash_password, verify_password
from smspay_app.i18n import normalise_language
from smspay_app.models import AuditLog, User
from smspay_app.services import auth, totp
from smspay_app.services.auth import ROLES, Caller

MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Temporary passwords: no look-alike characters, typed from a screen.
_TEMP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"


class UserError(Refused, ValueError):
    """Refused; ``key`` is the i18n key of the reason."""


@dataclass(frozen=True)
class UserView:
    """What the users page shows (no hashes, no secrets)."""

    id: int
    email: str
    display_name: str
    role: str
    language: str
    is_active: bool
    totp_on: bool
    last_login_at: datetime | None


def temporary_password() -> str:
    return "".join(secrets.choice(_TEMP_ALPHABET) for _ in range(14))


def _audit(session: Session, caller: Caller, action: str, target: User | None, **detail) -> None:
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action=action,
            target_type="user",
            target_id=target.id if target else None,
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        language=user.language,
        is_active=user.is_active,
        totp_on=totp.is_enabled(user),
        last_login_at=user.last_login_at,
    )


def _member(session: Session, caller: Caller, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.organisation_id != caller.organisation_id:
        raise UserError("users.error.not_found")
    return user


def _active_admins(session: Session, organisation_id: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(User)
        .where(User.organisation_id == organisation_id, User.role == "admin", User.is_active.is_(True))
    ).one()


# ----------------------------------------------------------------- admin: users of the organisation


def list_users(session: Session, caller: Caller) -> list[UserView]:
    caller.require("users.manage")
    rows = session.exec(
        select(User).where(User.organisation_id == caller.organisation_id).order_by(User.is_active.desc(), User.email)
    ).all()
    return [_view(u) for u in rows]


def invite_user(session: Session, caller: Caller, email: str, display_name: str, role: str) -> tuple[UserView, str]:
    """Create a user with a temporary password (returned once, to hand over)."""
    caller.require("users.manage")
    from smspay_app.models import Organisation

    org = session.get(Organisation, caller.organisation_id)
    user, password = new_invited_user(session, org, email, display_name, role, caller.language)
    _audit(session, caller, "user.invite", user, role=role)
    session.flush()
    return _view(user), password


def new_invited_user(session: Session, org, email: str, display_name: str, role: str, language: str):
    """The invite itself (checked e-mail, name and role; a temporary password
    that must be changed at the first sign-in): ``(user, password)``. The
    caller's permission and audit row belong to the entry point (an
    organisation admin here, the installation owner in ``installation``)."""
    email = unicodedata.normalize("NFKC", email or "").strip().lower()
    display_name = unicodedata.normalize("NFKC", display_name or "").strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise UserError("users.error.email")
    if role not in ROLES:
        raise UserError("users.error.role")
    if len(display_name) > 100:
        raise UserError("users.error.name_long")
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise UserError("users.error.email_taken")
    password = temporary_password()
    user = auth.create_user(session, org, email, password, role=role, display_name=display_name, language=language)
    user.must_change_password = True
    session.add(user)
    return user, password


def change_role(session: Session, caller: Caller, user_id: int, role: str) -> UserView:
    caller.require("users.manage")
    if role not in ROLES:
        raise UserError("users.error.role")
    user = _member(session, caller, user_id)
    if user.role == role:
        return _view(user)
    if user.role == "admin" and user.is_active and _active_admins(session, caller.organisation_id) <= 1:
        raise UserError("users.error.last_admin")
    old = user.role
    user.role = role
    session.add(user)
    _audit(session, caller, "user.role", user, old=old, new=role)
    session.flush()
    return _view(user)


def set_active(session: Session, caller: Caller, user_id: int, active: bool) -> UserView:
    """Deactivate (sessions end at once) or reactivate a user."""
    caller.require("users.manage")
    user = _member(session, caller, user_id)
    if user.is_active == active:
        return _view(user)
    if not active and user.role == "admin" and _active_admins(session, caller.organisation_id) <= 1:
        raise UserError("users.error.last_admin")
    user.is_active = active
    session.add(user)
    if not active:
        auth.revoke_user_sessions(session, user.id)
    _audit(session, caller, "user.activate" if active else "user.deactivate", user)
    session.flush()
    return _view(user)


def reset_password(session: Session, caller: Caller, user_id: int, *, reset_totp: bool = False) -> str:
    """A new temporary password (returned once); the user's sessions end.
    ``reset_totp`` also removes a lost authenticator (the user sets it up again)."""
    caller.require("users.manage")
    user = _member(session, caller, user_id)
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    session.add(user)
    if reset_totp:
        totp.clear(session, user)
    auth.revoke_user_sessions(session, user.id)
    _audit(session, caller, "user.reset_password", user, reset_totp=reset_totp)
    session.flush()
    return password


# ----------------------------------------------------------------- own profile


def me(session: Session, caller: Caller) -> User:
    user = session.get(User, caller.user_id)
    if user is None or not user.is_active:
        raise auth.NotAllowed("signed out")
    return user


def update_profile(session: Session, caller: Caller, display_name: str, language: str) -> UserView:
    user = me(session, caller)
    display_name = unicodedata.normalize("NFKC", display_name or "").strip()
    if len(display_name) > 100:
        raise UserError("users.error.name_long")
    user.display_name = display_name
    user.language = normalise_language(language)
    session.add(user)
    _audit(session, caller, "user.profile", user)
    session.flush()
    return _view(user)


def set_language(session: Session, caller: Caller, language: str) -> str:
    """Remember the admin UI language on the user (applied at sign-in)."""
    user = me(session, caller)
    language = normalise_language(language)
    if user.language != language:
        user.language = language
        session.add(user)
        session.flush()
    return language


def change_password(session: Session, caller: Caller, current: str, new: str, *, caller_ref: str | None = None) -> None:
    """Change one's own password (current one required); other sessions end."""
    user = me(session, caller)
    if not verify_password(user.password_hash, current or ""):
        raise UserError("account.error.current_password")
    if len(new or "") < MIN_PASSWORD:
        raise UserError("account.error.password_short")
    if new == current:
        raise UserError("account.error.password_same")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
    auth.revoke_user_sessions(session, user.id, keep_ref=caller_ref)
    _audit(session, caller, "user.change_password", user)
    session.flush()
