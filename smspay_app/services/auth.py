"""Admin sign-in: argon2id password check, server-side sessions that expire,
role checks. The browser holds a random session token; the DB keeps its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.domain.security import hash_password, hash_token, new_token, verify_password
from smspay_app.models import AuditLog, AuthSession, Organisation, SignInChallenge, User
from smspay_app.settings import get_settings

ROLES = ("admin", "operator", "support")
# What each role may do. Checked on the server in every handler.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "campaign.view",
            "campaign.edit",
            "campaign.send",
            "recipient.support",
            "recipient.export",
            "optout.manage",
            "settings.manage",
            "users.manage",
            "usage.view",
        }
    ),
    "operator": frozenset(
        {
            "campaign.view",
            "campaign.edit",
            "campaign.send",
            "recipient.support",
            "recipient.export",
            "optout.manage",
        }
    ),
    "support": frozenset({"campaign.view", "recipient.support", "optout.manage"}),
    # The installation owner (services/installation.py), apart from every
    # organisation role: manages the organisations, never reads their data.
    "owner": frozenset({"installation.manage"}),
}
OWNER_ROLE = "owner"


class NotAllowed(Refused, PermissionError):
    """The caller is not signed in, or its role does not allow the action."""

    def __init__(self, key: str = "admin.error.not_allowed", **fields: object) -> None:
        super().__init__(key, **fields)


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
    must_change_password: bool = False
    # The organisation's lifecycle status (services.installation): its users
    # are told when it is suspended (nothing is sent).
    organisation_status: str = "active"

    def can(self, permission: str) -> bool:
        if self.must_change_password:
            return False  # a temporary password opens the account page only
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> "Caller":
        if not self.can(permission):
            raise NotAllowed(permission)
        return self


# A fixed hash so a sign-in for an unknown e-mail costs as much as a real one.
_DUMMY_HASH = hash_password("not-a-real-password")


CHALLENGE_MINUTES = 5  # time to type the code after the password
ENROL_MINUTES = 15  # time to set up an authenticator app when required
MAX_CODE_TRIES = 5  # wrong codes per challenge; then start again with the password
# Wrong second-factor codes per user and window across challenges (restarting
# the password step does not buy unlimited guesses).
MAX_CODE_FAILURES_PER_WINDOW = 10
CODE_FAILURE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInStep:
    """Where a sign-in stands.

    ``kind``: ``done`` (``token`` and ``caller`` set: a session exists),
    ``totp`` (password right; enter a code for ``challenge``), ``enrol``
    (password right; the organisation requires TOTP: set it up for
    ``challenge``), ``wrong_code`` (try again, ``tries_left``), ``restart``
    (the challenge is used up, expired or unknown: start with the password),
    ``throttled`` (too many wrong codes lately: wait), ``password_throttled``
    (too many wrong passwords for this address lately: wait)."""

    kind: str
    token: str = ""
    caller: Caller | None = None
    challenge: str = ""
    tries_left: int = 0
    recovery_codes: tuple[str, ...] = ()


def home_for(role: str, must_change_password: bool = False) -> str:
    """Where a signed-in user lands: the account page while a temporary
    password must be changed, the installation owner's page, or the campaigns."""
    if must_change_password:
        return "/account"
    return "/installation" if role == OWNER_ROLE else "/campaigns"


def open_session(session: Session, user: User) -> tuple[str, Caller]:
    """Sign ``user`` in now (a right password, a finished set-up): the raw
    token for the browser's cookie and the caller."""
    return _open_session(session, user)


def _open_session(session: Session, user: User) -> tuple[str, Caller]:
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
    session.flush()
    caller = caller_for_token(session, token)
    assert caller is not None
    return token, caller


# Wrong passwords, counted in the database (a restart does not reset them)
# per address *and* account together, and per address alone (whether or not
# the account exists, so the limit reveals nothing): past the limit in the
# window, that address backs off, for that account or for all. Another
# address still signs in: nobody can lock a known admin out by failing on
# purpose (issue 18, item 11: the old throttle was per e-mail address, in
# memory per process, and let anyone lock an admin out for 15 minutes).
MAX_PASSWORD_FAILURES = 10  # per address and account
MAX_ADDRESS_FAILURES = 50  # per address, any accounts (password spraying)
PASSWORD_FAILURE_WINDOW = timedelta(minutes=15)


def _failure_keys(email: str, address: str) -> list[tuple[str, int]]:
    from smspay_app.domain.security import keyed_hash

    secret = get_settings().secret_key
    return [
        (keyed_hash(secret, "sign-in-failure", "pair", address, email), MAX_PASSWORD_FAILURES),
        (keyed_hash(secret, "sign-in-failure", "address", address), MAX_ADDRESS_FAILURES),
    ]


def _password_backing_off(session: Session, email: str, address: str) -> bool:
    from sqlalchemy import func

    from smspay_app.models import SignInFailure

    since = utcnow() - PASSWORD_FAILURE_WINDOW
    for key, limit in _failure_keys(email, address):
        count = session.exec(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.key_hash == key, SignInFailure.at > since)
        ).one()
        if count >= limit:
            return True
    return False


def _record_password_failure(session: Session, email: str, address: str) -> None:
    from sqlalchemy import delete

    from smspay_app.models import SignInFailure

    now = utcnow()
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - PASSWORD_FAILURE_WINDOW))
    for key, _ in _failure_keys(email, address):
        session.add(SignInFailure(key_hash=key, at=now))
    session.flush()


class SignInBusy(Refused):
    """Too many sign-ins are being checked right now: try again in a moment."""

    def __init__(self) -> None:
        super().__init__("login.busy")


def _lower_priority() -> None:
    """The gate's threads (and argon2's own lane threads, which inherit it)
    run at the lowest CPU priority: the pages' event loop goes first."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: run as is
        pass


class PasswordGate:
    """Runs the password step (argon2, ~0.1 s of CPU and memory) off the event
    loop, in its own small thread pool, with a global budget: at most
    ``concurrency`` checks at once and ``waiting`` more queued; beyond that
    ``run`` refuses at once (``SignInBusy``) instead of queueing.

    Issue 18, item 5: argon2 ran on the event loop, and random addresses
    avoid the per-address throttle: 8 tabs x 30 sign-ins took the recipient
    pages from p95 4 ms to p95 951 ms (max 1,090 ms). Sized from the settings
    (``sign_in_hash_concurrency``, ``sign_in_waiting_max``) at first use."""

    def __init__(
        self, concurrency: int | None = None, waiting: int | None = None, per_second: int | None = None
    ) -> None:
        import threading

        self._concurrency = concurrency
        self._waiting = waiting
        self._per_second = per_second
        self._executor = None
        self._rate: SlidingWindowLimiter[str] | None = None
        self._admitted = 0
        self._lock = threading.Lock()

    def _pool(self):
        from concurrent.futures import ThreadPoolExecutor

        if self._executor is None:
            settings = get_settings()
            self._concurrency = max(1, self._concurrency or settings.sign_in_hash_concurrency)
            self._waiting = max(0, self._waiting if self._waiting is not None else settings.sign_in_waiting_max)
            per_second = max(1, self._per_second or settings.sign_in_checks_per_second)
            # The global budget: password checks per second, whoever asks
            # (random addresses included), so hashing never takes more than
            # a share of the CPU the other pages need.
            self._rate = SlidingWindowLimiter(per_second, 1.0)
            self._executor = ThreadPoolExecutor(
                self._concurrency, thread_name_prefix="sign-in", initializer=_lower_priority
            )
        return self._executor

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, fn, *args):
        """``fn(*args)`` in the gate's threads; ``SignInBusy`` when over budget."""
        import asyncio

        pool = self._pool()
        with self._lock:
            if self._admitted >= (self._concurrency or 1) + (self._waiting or 0):
                raise SignInBusy()
            if self._rate is not None and not self._rate.allow("all"):
                raise SignInBusy()
            self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        finally:
            with self._lock:
                self._admitted -= 1


password_gate = PasswordGate()


def _check_password(session: Session, email: str, password: str) -> User | None:
    email = (email or "").strip().lower()
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None or not user.is_active:
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(user.password_hash, password or ""):
        return None
    return user


def recent_code_failures(session: Session, user: User) -> int:
    since = utcnow() - CODE_FAILURE_WINDOW
    return len(
        session.exec(
            select(AuditLog.id).where(
                AuditLog.user_id == user.id, AuditLog.action == "auth.code_failed", AuditLog.at >= since
            )
        ).all()
    )


def _demo_password_must_change(session: Session, user: User, password: str) -> None:
    """The demo admin signing in with the published demo password while the
    app is reachable from elsewhere must change it first (issue 18, item 10:
    ``admin@example.com`` / ``smspay-demo`` signed in as a full admin with no
    forced change). On loopback the one-command demo stays as it is."""
    settings = get_settings()
    if (
        settings.reachable_from_elsewhere
        and user.email == settings.demo_email.strip().lower()
        and password == settings.demo_password
        and not user.must_change_password
    ):
        user.must_change_password = True
        session.add(user)
        session.flush()


def sign_in_start(session: Session, email: str, password: str, address: str = "") -> SignInStep | None:
    """The password step. None when the credentials are wrong. Users without
    TOTP (in organisations that do not require it) are signed in at once;
    otherwise a short-lived challenge (not a session) is returned. ``address``
    is the client's (the back-off counts per address and account). A wrong
    password is committed by the caller's unit of work like the rest."""
    from smspay_app.services import totp

    key = (email or "").strip().lower()
    if _password_backing_off(session, key, address):
        return SignInStep("password_throttled")
    user = _check_password(session, email, password)
    if user is None:
        _record_password_failure(session, key, address)
        return None
    _demo_password_must_change(session, user, password)
    org = session.get(Organisation, user.organisation_id)
    if totp.is_enabled(user):
        purpose = "totp"
    elif org is not None and org.require_totp:
        purpose = "enrol"
    else:
        token, caller = _open_session(session, user)
        return SignInStep("done", token=token, caller=caller)
    if recent_code_failures(session, user) >= MAX_CODE_FAILURES_PER_WINDOW:
        return SignInStep("throttled")
    now = utcnow()
    challenge = new_token(32)
    minutes = CHALLENGE_MINUTES if purpose == "totp" else ENROL_MINUTES
    session.add(
        SignInChallenge(
            user_id=user.id,
            token_hash=hash_token(challenge),
            purpose=purpose,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    session.add(AuditLog(organisation_id=user.organisation_id, user_id=user.id, action=f"auth.password_ok.{purpose}"))
    session.flush()
    return SignInStep(purpose, challenge=challenge, tries_left=MAX_CODE_TRIES)


def _live_challenge(session: Session, challenge: str, purpose: str) -> tuple[SignInChallenge, User] | None:
    if not challenge:
        return None
    row = session.exec(select(SignInChallenge).where(SignInChallenge.token_hash == hash_token(challenge))).first()
    if (
        row is None
        or row.purpose != purpose
        or row.used_at is not None
        or row.expires_at <= utcnow()
        or row.failed_tries >= MAX_CODE_TRIES
    ):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row, user


def _wrong_code(session: Session, row: SignInChallenge, user: User) -> SignInStep:
    row.failed_tries += 1
    session.add(row)
    session.add(AuditLog(organisation_id=user.organisation_id, user_id=user.id, action="auth.code_failed"))
    session.flush()
    left = MAX_CODE_TRIES - row.failed_tries
    if left <= 0 or recent_code_failures(session, user) >= MAX_CODE_FAILURES_PER_WINDOW:
        return SignInStep("restart")
    return SignInStep("wrong_code", challenge="", tries_left=left)


def hold_user(session: Session, user: User) -> None:
    """Take the user's write lock and read the user again under it, so that
    concurrent second-factor checks of one user are counted one after the
    other (a no-op UPDATE: SQLite has no ``SELECT ... FOR UPDATE``; on
    PostgreSQL it locks the row). The caller commits soon after."""
    from sqlalchemy import update

    session.execute(update(User).where(User.id == user.id).values(id=User.id))
    session.refresh(user)


def _guess_allowed(session: Session, row: SignInChallenge, user: User) -> SignInStep | None:
    """Under the user's lock: None when a code may be checked, else the step
    to answer. The limit is per user across challenges: the 2026 attack run
    prepared 41 password steps first, then had 48 wrong TOTP codes evaluated,
    and the last prepared challenge still took the right code although a new
    password step answered ``throttled``."""
    hold_user(session, user)
    session.refresh(row)
    if row.used_at is not None or row.failed_tries >= MAX_CODE_TRIES:
        return SignInStep("restart")
    if recent_code_failures(session, user) >= MAX_CODE_FAILURES_PER_WINDOW:
        return SignInStep("throttled")
    return None


def sign_in_code(session: Session, challenge: str, code: str) -> SignInStep:
    """The second step: a 6-digit code from the app or a recovery code.
    Checked under the user's lock, and refused (``throttled``) once the user
    has had ``MAX_CODE_FAILURES_PER_WINDOW`` wrong codes, whichever challenge
    they came through."""
    from smspay_app.services import totp

    found = _live_challenge(session, challenge, "totp")
    if found is None:
        return SignInStep("restart")
    row, user = found
    refused = _guess_allowed(session, row, user)
    if refused is not None:
        return refused
    if totp.verify(session, user, code) is None:
        return _wrong_code(session, row, user)
    row.used_at = utcnow()
    session.add(row)
    token, caller = _open_session(session, user)
    return SignInStep("done", token=token, caller=caller)


def challenge_step(session: Session, challenge: str | None) -> str | None:
    """What a pending challenge waits for: ``totp`` or ``enrol``; None when
    it is unknown, used, expired or out of tries (start with the password)."""
    for purpose in ("totp", "enrol"):
        if _live_challenge(session, challenge or "", purpose) is not None:
            return purpose
    return None


def sign_in_enrol_begin(session: Session, challenge: str):
    """For an ``enrol`` challenge: start (or show again) the TOTP set-up.
    Returns ``totp.Enrolment`` or None when the challenge is no longer valid."""
    from smspay_app.services import totp

    found = _live_challenge(session, challenge, "enrol")
    if found is None:
        return None
    _, user = found
    if user.totp_pending_secret:
        return totp.enrolment_of(user)
    return totp.begin_enrolment(session, user)


def sign_in_enrol_finish(session: Session, challenge: str, code: str) -> SignInStep:
    """Confirm the new authenticator with a code; on success TOTP is on, the
    session is opened and the recovery codes come back (shown once)."""
    from smspay_app.services import totp

    found = _live_challenge(session, challenge, "enrol")
    if found is None:
        return SignInStep("restart")
    row, user = found
    refused = _guess_allowed(session, row, user)
    if refused is not None:
        return refused
    try:
        codes = totp.confirm_enrolment(session, user, code)
    except totp.TotpError:
        return _wrong_code(session, row, user)
    row.used_at = utcnow()
    session.add(row)
    token, caller = _open_session(session, user)
    return SignInStep("done", token=token, caller=caller, recovery_codes=tuple(codes))


def sign_in(session: Session, email: str, password: str) -> tuple[str, Caller] | None:
    """One-step sign-in for users without a second factor: the session's raw
    token (for the browser's cookie) and the caller. Returns None when the
    credentials are wrong OR a second step is due (use ``sign_in_start``)."""
    step = sign_in_start(session, email, password)
    if step is None or step.kind != "done":
        return None
    return step.token, step.caller


def session_ref(token: str | None) -> str:
    """The reference the admin UI's state keeps for a session: the token's
    hash (what the database keeps), never the token. ``web.session_cookie``
    turns the browser's HttpOnly cookie into it before Reflex reads the
    headers (issue 17 item 6: the live token sat in Reflex state, pickled in
    Redis, while the database kept only its hash)."""
    return hash_token(token) if token else ""


def caller_for_token(session: Session, token: str | None) -> Caller | None:
    """The signed-in user for a session token, or None when unknown, expired,
    revoked or the user was deactivated."""
    return caller_for_ref(session, session_ref(token))


def caller_for_ref(session: Session, ref: str | None) -> Caller | None:
    """``caller_for_token`` for a session's reference (``session_ref``): only
    ever computed on the server from the browser's cookie or at sign-in."""
    if not ref:
        return None
    row = session.exec(
        select(AuthSession, User, Organisation)
        .join(User, User.id == AuthSession.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(AuthSession.token_hash == ref)
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
        must_change_password=user.must_change_password,
        organisation_status=org.status,
    )


def revoke_user_sessions(session: Session, user_id: int, keep_ref: str | None = None) -> int:
    """End every live session of a user (deactivation, password reset,
    organisation now requires TOTP); ``keep_ref`` (``session_ref``) spares
    the caller's own. No commit. Returns how many were revoked."""
    now = utcnow()
    keep = keep_ref or None
    rows = session.exec(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    ).all()
    n = 0
    for row in rows:
        if row.token_hash != keep:
            row.revoked_at = now
            session.add(row)
            n += 1
    return n


def sign_out(session: Session, token: str | None) -> None:
    sign_out_ref(session, session_ref(token))


def sign_out_ref(session: Session, ref: str | None) -> None:
    """End the session with this reference (``session_ref``)."""
    if not ref:
        return
    auth = session.exec(select(AuthSession).where(AuthSession.token_hash == ref)).first()
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = utcnow()
        session.add(auth)
        session.flush()


def create_user(
    session: Session,
    organisation: Organisation,
    email: str,
    password: str,
    role: str = "operator",
    display_name: str = "",
    language: str = "ja",
) -> User:
    if role not in ROLES and role != OWNER_ROLE:
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
    session.flush()
    return org, user
