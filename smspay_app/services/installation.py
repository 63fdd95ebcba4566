"""The installation: its owner and the organisations (tenants) they run.

- **First start without the demo.** While no user exists the first start
  prints a set-up link (and while no owner exists ``new_setup_link``, e.g. from
  ``python -m smspay_app.admin setup``, makes one): a one-time link (hash stored, ``settings.setup_link_hours`` valid; a
  new link replaces the unused ones). ``complete_setup`` spends it: the owner
  picks their e-mail, name and password, and is signed in (the set-up page
  then offers TOTP at once, through ``services.totp``).
- **The owner** is a user with role ``owner`` in the one organisation of kind
  ``installation`` (never a tenant: no campaigns, no keys). The role's only
  permission is ``installation.manage``, so every organisation page, handler
  and API route refuses it: the owner sees no recipient data of anyone.
- **Organisations**: created (name, sender name, time zone, support phone,
  optional monthly SMS cap), their first admin invited (a temporary password,
  changed at the first sign-in: ``users.new_invited_user``), suspended and
  reactivated (suspended: the dispatcher claims nothing of it, recipient pages
  show a neutral notice with the support phone, API keys answer 403
  ``organisation_suspended``), and deleted: personal data erased per campaign
  as the retention job does (``retention.erase_campaign``), opt-outs removed
  (the organisation can never send again), users deactivated and anonymised,
  API keys revoked; audit rows, campaigns, attempts (the usage) stay.

- **Self-service sign-up** (``settings.self_signup``, off by default): a
  business applies (``apply``); the owner approves (the organisation and its
  first admin are made; the invite is shown to the owner to forward, the
  product sends no e-mail) or rejects with a reason.

Every change writes an audit row in the organisation it concerns. Services
flush; the entry point (page, CLI) commits."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, select

from smspay_app.domain import attempts as attempt_machine
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import FieldError, Refused
from smspay_app.domain.security import hash_token, new_token
from smspay_app.models import (
    ApiKey,
    AuditLog,
    Campaign,
    OptOut,
    Organisation,
    SendAttempt,
    SetupToken,
    SignupApplication,
    User,
)
from smspay_app.services import auth, retention, users
from smspay_app.services.auth import OWNER_ROLE, Caller
from smspay_app.services.settings import SettingsInvalid, parse_form
from smspay_app.settings import get_settings

ACTIVE, SUSPENDED, DELETED = "active", "suspended", "deleted"
INSTALLATION_KIND = "installation"
SETUP_PATH = "/setup/"
MAX_MONTHLY_CAP = 10_000_000


class InstallationError(Refused, ValueError):
    """Refused; ``key`` is the i18n key of the reason."""


# ----------------------------------------------------------------- first start


def needs_setup(session: Session) -> bool:
    """No user at all: nobody could ever sign in without a set-up link (the
    first start prints one)."""
    return session.exec(select(User.id)).first() is None


def has_owner(session: Session) -> bool:
    return session.exec(select(User.id).where(User.role == OWNER_ROLE, User.is_active.is_(True))).first() is not None


def new_setup_link(session: Session, now: datetime | None = None) -> str:
    """A fresh one-time set-up URL (older unused links stop working). Made
    while the installation has no owner: a fresh install, or one that started
    with the demo (``python -m smspay_app.admin setup``)."""
    if has_owner(session):
        raise InstallationError("setup.error.done")
    now = now or utcnow()
    session.execute(delete(SetupToken).where(SetupToken.used_at.is_(None)))
    token = new_token()
    hours = get_settings().setup_link_hours
    session.add(SetupToken(token_hash=hash_token(token), created_at=now, expires_at=now + timedelta(hours=hours)))
    session.flush()
    return f"{get_settings().public_base_url}{SETUP_PATH}{token}"


def _live_setup_token(session: Session, token: str) -> SetupToken | None:
    if not token or len(token) > 100:
        return None
    row = session.exec(select(SetupToken).where(SetupToken.token_hash == hash_token(token))).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def setup_link_valid(session: Session, token: str) -> bool:
    return _live_setup_token(session, token) is not None and not has_owner(session)


def installation_organisation(session: Session) -> Organisation:
    """The organisation row that holds the owner (made on first use)."""
    org = session.exec(select(Organisation).where(Organisation.kind == INSTALLATION_KIND)).first()
    if org is None:
        org = Organisation(name="smspay", kind=INSTALLATION_KIND, timezone=get_settings().timezone)
        session.add(org)
        session.flush()
    return org


def complete_setup(
    session: Session, token: str, email: str, display_name: str, password: str, password_again: str, language: str
) -> tuple[str, Caller]:
    """Spend the set-up link: create the owner and sign them in. Returns the
    session token and caller. Raises ``InstallationError`` (link used up or
    expired) or ``SettingsInvalid`` (per-field problems)."""
    row = _live_setup_token(session, token)
    if row is None or has_owner(session):
        raise InstallationError("setup.error.link")
    email = unicodedata.normalize("NFKC", email or "").strip().lower()
    display_name = unicodedata.normalize("NFKC", display_name or "").strip()
    errors: list[FieldError] = []
    if not users._EMAIL.match(email) or len(email) > 254:
        errors.append(FieldError("email", "users.error.email"))
    if len(display_name) > 100:
        errors.append(FieldError("display_name", "users.error.name_long"))
    if len(password or "") < users.MIN_PASSWORD:
        errors.append(FieldError("password", "account.error.password_short"))
    elif password != password_again:
        errors.append(FieldError("password_again", "setup.error.password_mismatch"))
    if errors:
        raise SettingsInvalid(errors)
    org = installation_organisation(session)
    user = auth.create_user(
        session, org, email, password, role=OWNER_ROLE, display_name=display_name, language=language or "ja"
    )
    row.used_at = utcnow()
    session.add(row)
    session.add(AuditLog(organisation_id=org.id, user_id=user.id, action="installation.setup"))
    session.flush()
    return auth.open_session(session, user)


# ----------------------------------------------------------------- organisations


@dataclass(frozen=True)
class OrgView:
    """What the owner sees of an organisation: no recipient, no campaign data."""

    id: int
    name: str
    sender_name: str
    timezone: str
    support_phone: str
    status: str
    monthly_sms_cap: int
    admins: int
    created_at: datetime


def _audit(session: Session, caller: Caller, org: Organisation, action: str, reason: str = "", **detail) -> None:
    session.add(
        AuditLog(
            organisation_id=org.id,
            user_id=caller.user_id,
            action=action,
            target_type="organisation",
            target_id=org.id,
            reason=reason,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )


def _tenant(session: Session, caller: Caller, organisation_id: int, *, deleted_ok: bool = False) -> Organisation:
    caller.require("installation.manage")
    org = session.get(Organisation, organisation_id)
    if org is None or org.kind == INSTALLATION_KIND or (org.status == DELETED and not deleted_ok):
        raise InstallationError("owner.error.not_found")
    return org


def parse_cap(raw: object) -> int:
    text = unicodedata.normalize("NFKC", str(raw if raw is not None else "")).strip().replace(",", "")
    if not text:
        return 0
    try:
        cap = int(text)
    except ValueError:
        raise SettingsInvalid([FieldError("monthly_sms_cap", "owner.error.cap")]) from None
    if not 0 <= cap <= MAX_MONTHLY_CAP:
        raise SettingsInvalid([FieldError("monthly_sms_cap", "owner.error.cap")])
    return cap


def create_organisation(
    session: Session,
    caller: Caller,
    *,
    name: str,
    sender_name: str = "",
    timezone: str = "Asia/Tokyo",
    support_phone: str = "",
    monthly_sms_cap: object = 0,
) -> Organisation:
    """A new tenant with the same checks as its settings page (quiet hours
    21:00-08:00, price and retention at their defaults)."""
    caller.require("installation.manage")
    defaults = Organisation(name="")
    parsed, errors = parse_form(
        {
            "name": name,
            "sender_name": sender_name,
            "timezone": timezone,
            "support_phone": support_phone,
            "quiet_hours_start": defaults.quiet_hours_start,
            "quiet_hours_end": defaults.quiet_hours_end,
            "segment_price_yen": str(defaults.segment_price_yen),
            "data_retention_days": str(defaults.data_retention_days),
        }
    )
    try:
        cap = parse_cap(monthly_sms_cap)
    except SettingsInvalid as exc:
        errors = [*errors, *exc.errors]
    if parsed is None or errors:
        raise SettingsInvalid(errors)
    org = Organisation(
        name=parsed.name,
        sender_name=parsed.sender_name,
        timezone=parsed.timezone,
        support_phone=parsed.support_phone,
        monthly_sms_cap=cap,
    )
    session.add(org)
    session.flush()
    _audit(session, caller, org, "installation.org_create", name=org.name, monthly_sms_cap=cap)
    session.flush()
    return org


def list_organisations(session: Session, caller: Caller, *, include_deleted: bool = False) -> list[OrgView]:
    caller.require("installation.manage")
    query = select(Organisation).where(Organisation.kind != INSTALLATION_KIND)
    if not include_deleted:
        query = query.where(Organisation.status != DELETED)
    orgs = session.exec(query.order_by(Organisation.name, Organisation.id)).all()
    admins = dict(
        session.exec(
            select(User.organisation_id, func.count())
            .where(User.role == "admin", User.is_active.is_(True))
            .group_by(User.organisation_id)
        ).all()
    )
    return [
        OrgView(
            id=o.id,
            name=o.name,
            sender_name=o.sender_name,
            timezone=o.timezone,
            support_phone=o.support_phone,
            status=o.status,
            monthly_sms_cap=o.monthly_sms_cap,
            admins=admins.get(o.id, 0),
            created_at=o.created_at,
        )
        for o in orgs
    ]


def invite_admin(session: Session, caller: Caller, organisation_id: int, email: str, display_name: str = ""):
    """An admin for the organisation (its first, or another): ``(user view,
    temporary password)``; the owner hands both over with the sign-in link
    (``sign_in_url``). The password must be changed at the first sign-in."""
    org = _tenant(session, caller, organisation_id)
    user, password = users.new_invited_user(session, org, email, display_name, "admin", caller.language)
    session.flush()
    _audit(session, caller, org, "installation.invite_admin", email=user.email)
    session.flush()
    return users._view(user), password


def sign_in_url() -> str:
    return f"{get_settings().public_base_url}/login"


def set_monthly_cap(session: Session, caller: Caller, organisation_id: int, cap: object) -> Organisation:
    org = _tenant(session, caller, organisation_id)
    value = parse_cap(cap)
    if value != org.monthly_sms_cap:
        _audit(session, caller, org, "installation.org_cap", old=org.monthly_sms_cap, new=value)
        org.monthly_sms_cap = value
        session.add(org)
        session.flush()
    return org


def set_suspended(session: Session, caller: Caller, organisation_id: int, suspended: bool, reason: str = "") -> str:
    """Suspend (nothing is sent from the next dispatcher cycle on) or
    reactivate (queued messages go again). Returns the new status."""
    org = _tenant(session, caller, organisation_id)
    status = SUSPENDED if suspended else ACTIVE
    if org.status != status:
        org.status = status
        org.status_changed_at = utcnow()
        session.add(org)
        _audit(session, caller, org, "installation.org_suspend" if suspended else "installation.org_reactivate", reason)
        session.flush()
    return org.status


def delete_organisation(session: Session, caller: Caller, organisation_id: int, *, confirm_name: str, reason: str):
    """Delete a tenant (typed name as confirmation, a reason). Personal data is
    erased; audit, campaigns and send attempts (usage) are kept."""
    org = _tenant(session, caller, organisation_id)
    if unicodedata.normalize("NFKC", confirm_name or "").strip() != org.name:
        raise InstallationError("owner.error.confirm_name")
    reason = unicodedata.normalize("NFKC", reason or "").strip()
    if not reason:
        raise InstallationError("owner.error.reason_required")
    now = utcnow()
    org.status = DELETED
    org.status_changed_at = now
    session.add(org)
    session.flush()  # the dispatcher claims nothing of it from here on
    erased = 0
    for campaign in session.exec(select(Campaign).where(Campaign.organisation_id == org.id)).all():
        erased += retention.erase_campaign(session, campaign, now)
    queued = select(SendAttempt).where(SendAttempt.organisation_id == org.id, SendAttempt.status == "queued")
    for attempt in session.exec(queued).all():
        attempt_machine.cancel(attempt, now=now)
        session.add(attempt)
    session.execute(delete(OptOut).where(OptOut.organisation_id == org.id))
    session.execute(
        update(ApiKey).where(ApiKey.organisation_id == org.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    for user in session.exec(select(User).where(User.organisation_id == org.id)).all():
        auth.revoke_user_sessions(session, user.id)
        user.is_active = False
        user.email = f"deleted-{user.id}@invalid"
        user.display_name = ""
        session.add(user)
    _audit(session, caller, org, "installation.org_delete", reason, recipients_erased=erased)
    session.flush()
    return erased


def is_open(org: Organisation) -> bool:
    """May this organisation send and serve its recipient pages and API?"""
    return org.status == ACTIVE


def command_line_caller(session: Session) -> Caller:
    """The caller for ``python -m smspay_app.admin``: whoever runs it holds the
    database, so it acts as the installation owner (audit rows: no user)."""
    org = installation_organisation(session)
    return Caller(
        user_id=None,  # type: ignore[arg-type]  # no person: the command line acts
        organisation_id=org.id,
        role=OWNER_ROLE,
        email="",
        display_name="command line",
        language="ja",
        organisation_name=org.name,
    )


# ----------------------------------------------------------------- self-service sign-up

MAX_PENDING_APPLICATIONS = 200


def signup_open() -> bool:
    return bool(get_settings().self_signup)


def apply(
    session: Session, *, business_name: str, contact_name: str, email: str, phone: str = "", note: str = ""
) -> SignupApplication:
    """A business asks for an account (no sign-in). Refused when sign-up is
    off; one pending application per e-mail; a bounded queue."""
    if not signup_open():
        raise InstallationError("signup.error.closed")
    clean = {
        "business_name": unicodedata.normalize("NFKC", business_name or "").strip(),
        "contact_name": unicodedata.normalize("NFKC", contact_name or "").strip(),
        "email": unicodedata.normalize("NFKC", email or "").strip().lower(),
        "phone": unicodedata.normalize("NFKC", phone or "").strip(),
        "note": unicodedata.normalize("NFKC", note or "").strip(),
    }
    errors: list[FieldError] = []
    if not clean["business_name"] or len(clean["business_name"]) > 100:
        errors.append(FieldError("business_name", "settings.error.name_required"))
    if len(clean["contact_name"]) > 100:
        errors.append(FieldError("contact_name", "users.error.name_long"))
    if not users._EMAIL.match(clean["email"]) or len(clean["email"]) > 254:
        errors.append(FieldError("email", "users.error.email"))
    if len(clean["phone"]) > 30:
        errors.append(FieldError("phone", "settings.error.support_phone"))
    if len(clean["note"]) > 1000:
        errors.append(FieldError("note", "signup.error.note_long"))
    if errors:
        raise SettingsInvalid(errors)
    pending = select(SignupApplication.id).where(SignupApplication.status == "pending")
    if session.exec(pending.where(SignupApplication.email == clean["email"])).first() is not None:
        raise InstallationError("signup.error.pending")
    if session.exec(select(func.count()).select_from(pending.subquery())).one() >= MAX_PENDING_APPLICATIONS:
        raise InstallationError("signup.error.busy")
    row = SignupApplication(**clean)
    session.add(row)
    session.flush()
    return row


def list_applications(session: Session, caller: Caller, status: str = "pending") -> list[SignupApplication]:
    caller.require("installation.manage")
    return list(
        session.exec(
            select(SignupApplication).where(SignupApplication.status == status).order_by(SignupApplication.id)
        ).all()
    )


def _pending(session: Session, caller: Caller, application_id: int) -> SignupApplication:
    caller.require("installation.manage")
    row = session.get(SignupApplication, application_id)
    if row is None or row.status != "pending":
        raise InstallationError("signup.error.not_pending")
    return row


def approve_application(session: Session, caller: Caller, application_id: int, *, timezone: str = "Asia/Tokyo"):
    """Approve: the organisation and its first admin (the applicant's e-mail)
    are created; returns ``(organisation, user view, temporary password)`` for
    the owner to forward with ``sign_in_url()``."""
    row = _pending(session, caller, application_id)
    org = create_organisation(
        session,
        caller,
        name=row.business_name,
        sender_name=row.business_name[:20],
        timezone=timezone,
        support_phone=row.phone,
    )
    view, password = invite_admin(session, caller, org.id, row.email, row.contact_name)
    row.status, row.organisation_id = "approved", org.id
    row.decided_at, row.decided_by_user_id = utcnow(), caller.user_id
    session.add(row)
    _audit(session, caller, org, "installation.signup_approve", application_id=row.id)
    session.flush()
    return org, view, password


def reject_application(session: Session, caller: Caller, application_id: int, reason: str) -> SignupApplication:
    row = _pending(session, caller, application_id)
    reason = unicodedata.normalize("NFKC", reason or "").strip()
    if not reason:
        raise InstallationError("owner.error.reason_required")
    row.status, row.reason = "rejected", reason[:500]
    row.decided_at, row.decided_by_user_id = utcnow(), caller.user_id
    session.add(row)
    session.add(
        AuditLog(
            organisation_id=installation_organisation(session).id,
            user_id=caller.user_id,
            action="installation.signup_reject",
            target_type="signup_application",
            target_id=row.id,
            reason=row.reason,
        )
    )
    session.flush()
    return row
