"""TOTP two-factor sign-in (RFC 6238, authenticator apps): enrolment with a QR
code, confirmation with a first code, ten single-use recovery codes stored as
keyed hashes, verification (a code works once: replays inside its 30 s window
are refused), and disabling.

Codes are checked against ``clock.utcnow()`` so tests freeze time. The QR code
is drawn by ``segno`` (pure Python, no image libraries) as an SVG data URI."""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.security import keyed_hash
from smspay_app.models import AuditLog, Organisation, RecoveryCode, User
from smspay_app.settings import get_settings

ISSUER = "smspay"
STEP_SECONDS = 30
VALID_WINDOW = 1  # accept the previous and next 30 s step (clock drift)
RECOVERY_CODES = 10
# No look-alikes (0/o, 1/l/i): people type these from paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class TotpError(Refused, ValueError):
    """A TOTP action was refused; ``key`` is the i18n key of the reason."""


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, for typing into an app by hand
    uri: str  # otpauth:// provisioning URI
    qr_svg_data_uri: str


def _normalise(code: str) -> str:
    return unicodedata.normalize("NFKC", code or "").strip().lower().replace(" ", "").replace("-", "")


def _counter(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp()) // STEP_SECONDS


def matching_counter(secret: str, code: str, now: datetime | None = None) -> int | None:
    """The time step whose code equals ``code`` (within the window), or None."""
    code = _normalise(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = _counter(now or utcnow())
    for counter in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def code_at(secret: str, now: datetime | None = None) -> str:
    """The code an authenticator app shows at ``now`` (for tests and demos)."""
    return pyotp.TOTP(secret).generate_otp(_counter(now or utcnow()))


def _fernet():
    """Authenticated encryption for TOTP secrets at rest, keyed from the
    application secret (a database dump alone does not reveal them)."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"smspay/totp-secret\x1f" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


_SEALED = "fernet:"


def _seal(secret: str) -> str:
    return _SEALED + _fernet().encrypt(secret.encode()).decode()


def _unseal(stored: str | None) -> str | None:
    if not stored:
        return None
    if stored.startswith(_SEALED):
        return _fernet().decrypt(stored[len(_SEALED) :].encode()).decode()
    return stored  # written before secrets were sealed


# The one way secrets are sealed at rest (TOTP secrets, connection credentials).
seal = _seal
unseal = _unseal


def secret_of(user: User) -> str | None:
    """The user's confirmed TOTP secret (decrypted), or None."""
    return _unseal(user.totp_secret)


def is_enabled(user: User) -> bool:
    return bool(user.totp_secret)


def _audit(session: Session, user: User, action: str) -> None:
    session.add(
        AuditLog(
            organisation_id=user.organisation_id, user_id=user.id, action=action, target_type="user", target_id=user.id
        )
    )


# ----------------------------------------------------------------- enrolment


def begin_enrolment(session: Session, user: User) -> Enrolment:
    """A fresh secret, kept pending until a first code confirms it. Starting
    again replaces the pending secret (an abandoned QR code is worthless)."""
    if is_enabled(user):
        raise TotpError("account.totp.error.already_on")
    user.totp_pending_secret = _seal(pyotp.random_base32())
    session.add(user)
    session.flush()
    return enrolment_of(user)


def enrolment_of(user: User) -> Enrolment:
    secret = _unseal(user.totp_pending_secret)
    if not secret:
        raise TotpError("account.totp.error.not_started")
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    return Enrolment(secret=secret, uri=uri, qr_svg_data_uri=qr.svg_data_uri(scale=5, border=2))


def confirm_enrolment(session: Session, user: User, code: str) -> list[str]:
    """Turn TOTP on when ``code`` matches the pending secret; returns the
    recovery codes (shown once, stored only as hashes)."""
    secret = _unseal(user.totp_pending_secret)
    if not secret:
        raise TotpError("account.totp.error.not_started")
    counter = matching_counter(secret, code)
    if counter is None:
        raise TotpError("account.totp.error.code")
    user.totp_secret = _seal(secret)
    user.totp_pending_secret = None
    user.totp_enabled_at = utcnow()
    user.totp_last_counter = counter
    session.add(user)
    codes = _replace_recovery_codes(session, user)
    _audit(session, user, "totp.enabled")
    session.flush()
    return codes


def disable(session: Session, user: User, code: str) -> None:
    """Turn TOTP off; needs a current code or a recovery code, and is refused
    while the organisation requires TOTP."""
    if not is_enabled(user):
        raise TotpError("account.totp.error.not_on")
    org = session.get(Organisation, user.organisation_id)
    if org is not None and org.require_totp:
        raise TotpError("account.totp.error.required")
    _verify_or_count_failure(session, user, code)
    clear(session, user)
    _audit(session, user, "totp.disabled")
    session.flush()


def clear(session: Session, user: User) -> None:
    """Remove the second factor (disable, or an admin's reset). No commit."""
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_enabled_at = None
    user.totp_last_counter = 0
    session.add(user)
    for row in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
        session.delete(row)


# ----------------------------------------------------------------- recovery codes


def _recovery_hash(user_id: int, code: str) -> str:
    return keyed_hash(get_settings().secret_key, "recovery", str(user_id), _normalise(code))


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    for row in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all():
        session.delete(row)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    now = utcnow()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(user.id, code), created_at=now))
    return codes


def regenerate_recovery_codes(session: Session, user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working); needs a current code."""
    if not is_enabled(user):
        raise TotpError("account.totp.error.not_on")
    _verify_or_count_failure(session, user, code)
    codes = _replace_recovery_codes(session, user)
    _audit(session, user, "totp.recovery_codes_regenerated")
    session.flush()
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


# ----------------------------------------------------------------- verification


def _verify_or_count_failure(session: Session, user: User, code: str) -> str:
    """``verify`` for actions of a signed-in user (turn off, new recovery
    codes): wrong codes count toward the same per-user limit as at sign-in,
    so a stolen session cannot guess codes without end."""
    from smspay_app.services import auth

    auth.hold_user(session, user)  # concurrent guesses are counted one after the other
    if auth.recent_code_failures(session, user) >= auth.MAX_CODE_FAILURES_PER_WINDOW:
        raise TotpError("account.totp.error.throttled")
    used = verify(session, user, code)
    if used is None:
        session.add(AuditLog(organisation_id=user.organisation_id, user_id=user.id, action="auth.code_failed"))
        # Committed here, not at the edge: the TotpError raised next rolls the
        # caller's unit of work back, and this failure must count (the throttle).
        session.commit()
        raise TotpError("account.totp.error.code")
    return used


def verify(session: Session, user: User, code: str) -> str | None:
    """Check a 6-digit code or a recovery code. Returns ``"totp"`` or
    ``"recovery"`` and burns what was used (the code's time step, or the
    recovery code); None when wrong. Flushes, the caller commits."""
    if not is_enabled(user):
        return None
    counter = matching_counter(secret_of(user), code)
    if counter is not None:
        if counter <= user.totp_last_counter:
            return None  # replayed
        user.totp_last_counter = counter
        session.add(user)
        session.flush()
        return "totp"
    normalised = _normalise(code)
    if len(normalised) != 10:
        return None
    row = session.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _recovery_hash(user.id, normalised),
            RecoveryCode.used_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    row.used_at = utcnow()
    session.add(row)
    _audit(session, user, "totp.recovery_code_used")
    session.flush()
    return "recovery"
