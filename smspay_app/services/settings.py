"""Organisation settings: name, sender, time zone, quiet hours, support phone,
price per SMS segment, personal-data retention and the TOTP requirement.

Admins only (``settings.manage``). Input is validated as a whole: on any error
nothing is saved and every problem comes back as (field, i18n key). Every save
that changes something writes one audit row listing old and new values."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from sqlmodel import Session, select

from smspay_app.domain.errors import FieldError, Invalid
from smspay_app.models import AuditLog, Organisation, User
from smspay_app.services import auth, totp
from smspay_app.services.auth import Caller
from smspay_app.settings import get_settings

RETENTION_MIN_DAYS = 1
RETENTION_MAX_DAYS = 3650
MAX_SEGMENT_PRICE_YEN = 1000
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ALNUM_SENDER = re.compile(r"^[A-Za-z0-9]{1,11}$")
_SUPPORT_PHONE = re.compile(r"^\+?[0-9][0-9\- ()]{5,19}$")


@dataclass
class OrgSettings:
    """The editable settings, as plain values (what the form shows)."""

    name: str
    sender_name: str
    sender_id: str
    timezone: str
    quiet_hours_start: str
    quiet_hours_end: str
    support_phone: str
    segment_price_yen: float
    data_retention_days: int
    require_totp: bool
    official_url: str = ""


class SettingsInvalid(Invalid):
    """The form's problems, one ``FieldError`` per field."""


def _nfkc(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value if value is not None else "")).strip()


def common_timezones() -> list[str]:
    """Time zones offered in the form (Asia/Tokyo first)."""
    zones = sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return ["Asia/Tokyo", "UTC"] + [z for z in zones if z not in ("Asia/Tokyo", "UTC")]


def get_settings_for(session: Session, caller: Caller) -> OrgSettings:
    caller.require("settings.manage")
    org = session.get(Organisation, caller.organisation_id)
    return OrgSettings(
        name=org.name,
        sender_name=org.sender_name,
        sender_id=org.sender_id,
        timezone=org.timezone,
        quiet_hours_start=org.quiet_hours_start,
        quiet_hours_end=org.quiet_hours_end,
        support_phone=org.support_phone,
        official_url=org.official_url,
        segment_price_yen=org.segment_price_yen,
        data_retention_days=org.data_retention_days,
        require_totp=org.require_totp,
    )


def valid_sender_id(value: str) -> bool:
    """An alphanumeric sender id (1-11 letters/digits, at least one letter, as
    carriers require) or a phone number in E.164 form."""
    if value.startswith("+"):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return False
        return (
            phonenumbers.is_valid_number(number)
            and phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
        )
    return bool(_ALNUM_SENDER.match(value)) and any(c.isalpha() for c in value)


def parse_form(form: dict) -> tuple[OrgSettings | None, list[FieldError]]:
    """Validate raw form values (full-width digits accepted)."""
    errors: list[FieldError] = []
    name = _nfkc(form.get("name"))
    if not name:
        errors.append(FieldError("name", "settings.error.name_required"))
    elif len(name) > 100:
        errors.append(FieldError("name", "settings.error.name_long"))
    sender_name = _nfkc(form.get("sender_name"))
    if len(sender_name) > 20:
        errors.append(FieldError("sender_name", "settings.error.sender_name_long"))
    sender_id = _nfkc(form.get("sender_id"))
    if sender_id.startswith("+"):
        sender_id = re.sub(r"[\s\-()]", "", sender_id)
    if sender_id and not valid_sender_id(sender_id):
        errors.append(FieldError("sender_id", "settings.error.sender_id"))
    tz = _nfkc(form.get("timezone"))
    try:
        if not tz or "/" not in tz and tz != "UTC":
            raise ZoneInfoNotFoundError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("timezone", "settings.error.timezone"))
    hours = {}
    for key in ("quiet_hours_start", "quiet_hours_end"):
        raw = _nfkc(form.get(key))
        m = _HHMM.match(raw)
        if not m:
            errors.append(FieldError(key, "settings.error.hhmm"))
        else:
            hours[key] = f"{int(m.group(1)):02d}:{m.group(2)}"
    support_phone = _nfkc(form.get("support_phone")).replace("－", "-")
    if support_phone and not _SUPPORT_PHONE.match(support_phone):
        errors.append(FieldError("support_phone", "settings.error.support_phone"))
    official_url = official_url_of(_nfkc(form.get("official_url")))
    if official_url is None:
        errors.append(FieldError("official_url", "settings.error.official_url"))
    price: float = 0
    try:
        price = float(_nfkc(form.get("segment_price_yen")).replace(",", "").removeprefix("¥"))
        if not (0 <= price <= MAX_SEGMENT_PRICE_YEN) or price != price:
            raise ValueError
    except ValueError:
        errors.append(FieldError("segment_price_yen", "settings.error.price"))
    days = 0
    try:
        days = int(_nfkc(form.get("data_retention_days")).replace(",", ""))
        if not (RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS):
            raise ValueError
    except ValueError:
        errors.append(FieldError("data_retention_days", "settings.error.retention"))
    require_totp = str(form.get("require_totp", "")).lower() in ("on", "true", "1", "yes")
    if errors:
        return None, errors
    return (
        OrgSettings(
            name=name,
            sender_name=sender_name,
            sender_id=sender_id,
            timezone=tz,
            quiet_hours_start=hours["quiet_hours_start"],
            quiet_hours_end=hours["quiet_hours_end"],
            support_phone=support_phone,
            official_url=official_url or "",
            segment_price_yen=price,
            data_retention_days=days,
            require_totp=require_totp,
        ),
        [],
    )


def official_url_of(raw: str) -> str | None:
    """The official web address as kept: ``https://host[/path]`` (a bare
    ``example.co.jp`` gets ``https://``), '' when empty, None when it is not
    an https address a recipient could check (no credentials, spaces, other
    schemes, over 200 characters)."""
    from urllib.parse import urlsplit

    if not raw:
        return ""
    url = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if (
        len(url) > 200
        or parts.scheme != "https"
        or "@" in parts.netloc
        or any(c.isspace() for c in url)
        or "." not in host
        or not re.fullmatch(r"[a-z0-9.-]+", host)
    ):
        return None
    return url


def sender_id_taken(session: Session, organisation_id: int, sender_id: str) -> bool:
    """Another organisation already sends from ``sender_id`` (compared without
    case), or it is the shared default sender that other organisations use.
    Sender ids are unique across organisations so that a reply reaches the
    organisation it answers (the 2026 attack run: B's admin could save A's
    ``DEMOSHOJI`` and ``+815011112222``)."""
    from sqlalchemy import func

    wanted = sender_id.strip().lower()
    clash = session.exec(
        select(Organisation.id).where(Organisation.id != organisation_id, func.lower(Organisation.sender_id) == wanted)
    ).first()
    if clash is not None:
        return True
    if wanted == get_settings().twilio_from.strip().lower():
        shared = session.exec(
            select(Organisation.id).where(Organisation.id != organisation_id, Organisation.sender_id == "")
        ).first()
        return shared is not None
    return False


def update_settings(session: Session, caller: Caller, form: dict, *, caller_ref: str | None = None) -> dict[str, list]:
    """Validate and save; returns the changes ``{field: [old, new]}`` (empty
    when nothing changed). Raises ``SettingsInvalid`` (nothing saved) or
    ``auth.NotAllowed``.

    Turning ``require_totp`` on needs the admin's own TOTP first (so nobody
    locks themselves out) and ends the sessions of users without TOTP: they
    set it up at their next sign-in."""
    caller.require("settings.manage")
    new, errors = parse_form(form)
    if new is None:
        raise SettingsInvalid(errors)
    org = session.get(Organisation, caller.organisation_id)
    me = session.get(User, caller.user_id)
    if new.require_totp and not org.require_totp and not totp.is_enabled(me):
        raise SettingsInvalid([FieldError("require_totp", "settings.error.totp_self_first")])
    if new.sender_id and new.sender_id != org.sender_id and sender_id_taken(session, org.id, new.sender_id):
        raise SettingsInvalid([FieldError("sender_id", "settings.error.sender_id_taken")])
    old = get_settings_for(session, caller)
    changes = {k: [v, getattr(new, k)] for k, v in asdict(old).items() if v != getattr(new, k)}
    if not changes:
        return {}
    for key, (_, value) in changes.items():
        setattr(org, key, value)
    session.add(org)
    if {"quiet_hours_start", "quiet_hours_end", "timezone"} & changes.keys():
        from smspay_app.services import sending

        sending.retime_held(session, org.id)  # held messages follow the new window at once
    if "require_totp" in changes and new.require_totp:
        users = session.exec(select(User).where(User.organisation_id == org.id, User.totp_secret.is_(None))).all()
        for user in users:
            auth.revoke_user_sessions(session, user.id, keep_ref=caller_ref if user.id == caller.user_id else None)
    session.add(
        AuditLog(
            organisation_id=org.id,
            user_id=caller.user_id,
            action="settings.update",
            target_type="organisation",
            target_id=org.id,
            detail=json.dumps(changes, ensure_ascii=False),
        )
    )
    session.flush()
    return changes


def get_invoice_registration_number(session: Session, caller: Caller) -> str:
    """The organisation's registration number as saved ("" when not registered)."""
    caller.require("settings.manage")
    org = session.get(Organisation, caller.organisation_id)
    return org.invoice_registration_number or ""


def normalise_invoice_number(value: str) -> str:
    """What ``set_invoice_registration_number`` would save for ``value``
    (before validation): full-width and spacing folded."""
    from smspay_app.domain import invoice

    return invoice.normalise_registration_number(value)


def set_invoice_registration_number(session: Session, caller: Caller, value: str) -> str:
    """The organisation's qualified-invoice registration number (``T`` + 13
    digits with the check digit: ``domain.invoice``), or "" (not registered);
    audited ``settings.invoice_registration_number``. Returns the number
    saved; raises ``SettingsInvalid``."""
    from smspay_app.domain import invoice

    caller.require("settings.manage")
    number = invoice.normalise_registration_number(value)
    if number and not invoice.valid_registration_number(number):
        raise SettingsInvalid([FieldError("invoice_registration_number", "settings.error.invoice_number")])
    org = session.get(Organisation, caller.organisation_id)
    old = org.invoice_registration_number
    org.invoice_registration_number = number
    session.add(org)
    session.add(
        AuditLog(
            organisation_id=org.id,
            user_id=caller.user_id,
            action="settings.invoice_registration_number",
            target_type="organisation",
            target_id=org.id,
            detail=json.dumps({"old": old, "new": number}),
        )
    )
    session.flush()
    return number
