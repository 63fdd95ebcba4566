"""The recipient's journey on a short link: visit, click, identity check (answers
or one-time code), lockout, verified session, read confirmation.

What counts as what (the scanner-proof rule):

- A **GET or HEAD never consumes or counts anything**. It is recorded on the
  timeline as ``preview`` (HEAD, or a known preview bot / scanner / scripted
  client, see ``domain.user_agents``) or ``visit`` (a browser), with the
  user-agent class only. Repeated identical visits of one link within
  ``VISIT_DEDUP_SECONDS`` are recorded once (across every process, domain.limits).
- The person's **click** is the **first POST on the link**: any form they
  submit (identity answers, "send me a code", "continue"). It sets
  ``Link.clicked_at`` and the recipient's ``clicked`` step (timeline ``click``).
  Scanners fetch; they do not fill in and submit forms.
- **Verified** is a correct identity check; it opens a 30-minute session bound
  to the link (random cookie value, only its hash on ``Link.session_hash``).
- Wrong answers count on the link (``Link.failed_attempts``) and the recipient
  (``failed_answer_count``); at ``Campaign.max_wrong_answers`` the link locks
  (``Link.locked_at``, step ``locked``) until staff unlock or reissue it.
- One-time code mode (``Campaign.verification_mode == "otp"``): 6 digits,
  single use, valid ``OTP_VALID_SECONDS`` (10 min), ``OTP_MAX_TRIES`` (5) per
  code, ``OTP_RESEND_COOLDOWN_SECONDS`` (60 s) between sends and
  ``OTP_MAX_SENDS`` (5) per link; when every code is used up the link locks.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from smspay_app.db import ReadConnection
from smspay_app.domain.clock import utcnow
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.domain.security import hash_token, keyed_hash, new_token
from smspay_app.models import (
    Campaign,
    CampaignQuestion,
    IdentityAnswer,
    Link,
    Organisation,
    Payment,
    Recipient,
)
from smspay_app.services import timeline
from smspay_app.services.links import end_sessions, find_link_context
from smspay_app.settings import get_settings

log = logging.getLogger(__name__)

SESSION_MINUTES = 30
OTP_DIGITS = 6
OTP_VALID_SECONDS = 600
OTP_MAX_TRIES = 5
OTP_RESEND_COOLDOWN_SECONDS = 60
OTP_MAX_SENDS = 5
VISIT_DEDUP_SECONDS = 60.0

__all__ = [
    "LinkContext",
    "VerifyResult",
    "OtpSendResult",
    "load_context",
    "load_view",
    "link_state",
    "record_visit",
    "record_visits",
    "record_click",
    "verify_answers",
    "hold_link",
    "request_otp",
    "verify_otp",
    "start_session",
    "session_valid",
    "split_link_token",
    "url_session_value",
    "url_session_valid",
    "end_session",
    "mark_read",
    "payment_state",
    "merge_fields",
    "send_otp_sms",
    "new_otp_code",
    "OtpSender",
]


@dataclass
class LinkContext:
    """Everything a recipient page needs, loaded in one indexed query."""

    link: Link
    recipient: Recipient
    campaign: Campaign
    organisation: Organisation
    questions: list[CampaignQuestion] = field(default_factory=list)


def split_link_token(raw: str) -> tuple[str, str]:
    """``/l/{token}`` or ``/l/{token}.{url_session}`` (the verified session
    travelling in the URL for browsers that keep no cookie): the link's token
    and the URL session ('' when none). Link tokens are base62, never a dot."""
    token, _, url_session = (raw or "").partition(".")
    return token, url_session


def load_context(session: Session, token: str) -> LinkContext | None:
    found = find_link_context(session, split_link_token(token)[0])
    if found is None:
        return None
    link, recipient, campaign, organisation, questions = found
    return LinkContext(link, recipient, campaign, organisation, questions)


def link_state(ctx: LinkContext, now: datetime | None = None) -> str:
    """``ok``, ``suspended`` (the organisation is suspended or deleted),
    ``revoked`` (replaced, cancelled, opted out, erased), ``expired`` or
    ``locked``. A paid recipient's link stays usable (receipt) until expiry."""
    now = now or utcnow()
    link, recipient = ctx.link, ctx.recipient
    if ctx.organisation.status != "active":
        return "suspended"  # services.installation: a neutral notice with the support phone
    if link.revoked_at is not None and link.revoked_at >= link.expires_at:
        return "expired"  # it had expired before it was withdrawn (e.g. reissued)
    if (
        link.revoked_at is not None
        or recipient.erased_at is not None
        or recipient.status in ("cancelled", "opted_out")
        or ctx.campaign.status == "cancelled"
    ):
        return "revoked"
    if now >= link.expires_at:
        return "expired"
    if link.locked_at is not None:
        return "locked"
    return "ok"


# ---------------------------------------------------------------- visits / click

# One visit of each kind per link in ``VISIT_DEDUP_SECONDS``, shared by every
# process (issue 17: two app processes recorded 7 visits for 10 GETs).
visit_limiter: SlidingWindowLimiter[str] = SlidingWindowLimiter(
    1, VISIT_DEDUP_SECONDS, shared="visit", log_refusals=False
)


def _seen_recently(key: tuple) -> bool:
    if VISIT_DEDUP_SECONDS <= 0:
        return False
    visit_limiter.window = VISIT_DEDUP_SECONDS
    return not visit_limiter.allow("|".join(str(part) for part in key))


def reset_visit_dedup() -> None:
    visit_limiter.clear()


def _visit(ctx: LinkContext, ua_class: str, method: str, state: str) -> tuple[str, tuple, dict]:
    """A GET/HEAD's timeline kind (``preview`` or ``visit``), its
    de-duplication key and its event's detail: the one place they are made."""
    kind = "preview" if method == "HEAD" or ua_class == "preview" else "visit"
    key = (ctx.link.id, kind, ua_class, method, state)
    return kind, key, {"link_id": ctx.link.id, "ua": ua_class, "method": method, "state": state}


def visit_needs_recording(ctx: LinkContext, *, ua_class: str, method: str, state: str) -> bool:
    """False when the same kind of visit of this link was recorded within
    ``VISIT_DEDUP_SECONDS`` (marks it as recorded otherwise)."""
    return not _seen_recently(_visit(ctx, ua_class, method, state)[1])


def record_visit(
    session_or_connection,
    ctx: LinkContext,
    *,
    ua_class: str,
    method: str,
    state: str,
    dedup: bool = True,
) -> str | None:
    """Record a GET/HEAD on the timeline as ``preview`` or ``visit``. Never a
    click, never consumes anything. Works with an ORM session or a Core
    connection (the light GET path; the caller commits). Returns the kind recorded
    (None when deduplicated)."""
    kind, key, detail = _visit(ctx, ua_class, method, state)
    if not isinstance(session_or_connection, Session):
        recorded = record_visits(session_or_connection, [(ctx, ua_class, method, state)], dedup=dedup)
        return kind if recorded else None
    if dedup and _seen_recently(key):
        return None
    timeline.record(session_or_connection, ctx.recipient, kind, detail=detail)
    return kind


def record_visits(connection, visits: list[tuple[LinkContext, str, str, str]], *, dedup: bool = True) -> int:
    """``record_visit`` for several GETs ``(ctx, ua_class, method, state)`` on a
    Core connection, in one ``executemany`` of one statement built once (the
    landing GET's group commit: building an ``insert().values()`` per visit
    cost more than the database did; issue 16, item 2). The caller commits.
    Returns how many were recorded."""
    rows = []
    for ctx, ua_class, method, state in visits:
        kind, key, detail = _visit(ctx, ua_class, method, state)
        if dedup and _seen_recently(key):
            continue
        recipient = ctx.recipient
        rows.append(
            {
                "organisation_id": recipient.organisation_id,
                "campaign_id": recipient.campaign_id,
                "recipient_id": recipient.id,
                "kind": kind,
                "at": utcnow(),
                "detail": json.dumps(detail),
            }
        )
    if rows:
        connection.execute(timeline.EVENT_INSERT, rows)
    return len(rows)


def load_view(reader: ReadConnection, token: str) -> LinkContext | None:
    """Read-only context with no ORM objects, read on ``db.read_connection()``:
    for the hot GET path."""
    from smspay_app.services.links import find_link_view

    found = find_link_view(reader, split_link_token(token)[0])
    if found is None:
        return None
    link, recipient, campaign, organisation, questions = found
    return LinkContext(link, recipient, campaign, organisation, questions)


def record_click(session: Session, ctx: LinkContext, *, via: str, ua_class: str = "") -> bool:
    """The first POST on the link is the person's click. Returns True if this was it."""
    if ctx.link.clicked_at is not None:
        return False
    now = utcnow()
    result = session.execute(  # atomic: two racing POSTs record one click
        update(Link).where(Link.id == ctx.link.id, Link.clicked_at.is_(None)).values(clicked_at=now)
    )
    if result.rowcount != 1:
        return False
    ctx.link.clicked_at = now
    timeline.record(
        session,
        ctx.recipient,
        "click",
        step="clicked",
        at=now,
        detail={"link_id": ctx.link.id, "via": via, "ua": ua_class},
    )
    return True


# ---------------------------------------------------------------- identity check


@dataclass
class VerifyResult:
    ok: bool
    reason: str  # ok | wrong | locked | expired_code | no_code | too_many_tries | revoked | expired
    remaining: int | None = None  # tries left before the link (or code) is used up
    session_token: str | None = None
    kept_key: str = ""  # after a wrong answer: the key of what was kept (``kept_answers``)


def _answers_module():
    from smspay_app.domain import answers

    return answers


def wrong_answer_limit(campaign: Campaign) -> int:
    """Wrong answers that lock the link: the campaign's own limit (a new
    campaign takes ``settings.max_wrong_answers``, the README's "5 wrong
    answers (configurable)")."""
    return max(1, campaign.max_wrong_answers)


def hold_link(session: Session, ctx: LinkContext) -> str:
    """Take the link's write lock, then read the link and recipient again under
    it, and return the link's state (``link_state``) as it is now.

    Every check that decides an answer (locked? tries left? the code's hash)
    must read a context read under this lock, never the one loaded before it:
    the 2026 attack run sent 50 concurrent wrong answers to one link and the
    counter reached 12-19 with a limit of 5, the right answer (11th) verified
    in 13 of 19 runs, and one-time codes overshot their try counter, because
    every request compared against a context loaded before any of them had
    counted. A no-op UPDATE, because SQLite has no ``SELECT ... FOR UPDATE``
    (there it takes the database's write lock, on PostgreSQL the row's); the
    caller commits soon after."""
    session.execute(update(Link).where(Link.id == ctx.link.id).values(id=Link.id))
    session.refresh(ctx.link)
    session.refresh(ctx.recipient)
    return link_state(ctx)


def _refused_by_state(state: str) -> VerifyResult:
    return VerifyResult(False, state, 0)


def _register_failure(session: Session, ctx: LinkContext, kind: str) -> VerifyResult:
    link, recipient, campaign = ctx.link, ctx.recipient, ctx.campaign
    session.execute(update(Link).where(Link.id == link.id).values(failed_attempts=Link.failed_attempts + 1))
    session.execute(
        update(Recipient)
        .where(Recipient.id == recipient.id)
        .values(failed_answer_count=Recipient.failed_answer_count + 1)
    )
    session.refresh(link)
    session.refresh(recipient)
    limit = wrong_answer_limit(campaign)
    timeline.record(
        session, recipient, "verify_failed", detail={"link_id": link.id, "attempt": link.failed_attempts, "mode": kind}
    )
    if link.failed_attempts >= limit:
        _lock(session, ctx, reason="wrong_answers")
        return VerifyResult(False, "locked", 0)
    return VerifyResult(False, "wrong", limit - link.failed_attempts)


def _lock(session: Session, ctx: LinkContext, *, reason: str) -> None:
    now = utcnow()
    if ctx.link.locked_at is None:
        ctx.link.locked_at = now
        end_sessions(session, ctx.link)  # a lock ends the link's session (issue 18, item 2)
        timeline.record(
            session, ctx.recipient, "locked", step="locked", at=now, detail={"link_id": ctx.link.id, "reason": reason}
        )


def verify_answers(session: Session, ctx: LinkContext, answers: Mapping[int, str]) -> VerifyResult:
    """Check the answers to the campaign's questions (``answers`` maps question id
    to the raw text typed). All must match; the message never says which failed.
    A campaign without questions verifies on "continue". Decided under the
    link's lock (``hold_link``): concurrent answers are counted one after the
    other, the counter never passes the limit, and once it is reached even the
    right answer finds the link locked."""
    state = hold_link(session, ctx)
    if state != "ok":
        return _refused_by_state(state)
    limit = wrong_answer_limit(ctx.campaign)
    if ctx.link.failed_attempts >= limit:
        _lock(session, ctx, reason="wrong_answers")
        return VerifyResult(False, "locked", 0)
    questions = ctx.questions
    if questions:
        mod = _answers_module()
        secret = get_settings().secret_key
        expected = {
            a.question_id: a.answer_hash
            for a in session.exec(select(IdentityAnswer).where(IdentityAnswer.recipient_id == ctx.recipient.id))
        }
        all_ok = True
        for q in questions:
            raw = (answers.get(q.id) or "")[:200]
            try:
                normalized = mod.normalize_answer(raw, q.kind)
                given = mod.hash_answer(secret, ctx.recipient.id, q.id, normalized)
            except (ValueError, TypeError):
                given = ""
            stored = expected.get(q.id)
            # compare every answer (no early exit) in constant time
            match = bool(stored) and bool(raw.strip()) and hmac.compare_digest(given, stored or "")
            all_ok = all_ok and match
        if not all_ok:
            result = _register_failure(session, ctx, "questions")
            if result.reason == "wrong":
                result.kept_key = keep_answers(session, ctx, answers)
            return result
    token = start_session(session, ctx)
    return VerifyResult(True, "ok", session_token=token)


# ---------------------------------------------------------------- kept answers

# After a wrong answer the non-secret fields keep what was typed (issue 14):
# kept on the link's row for a few minutes under a random key that the
# redirect carries (only its hash is stored), so nothing typed is in a URL and
# every app process finds them (issue 17). A wrong or old key shows empty
# fields; a verified session or the recipient's erasure clears them.
KEEP_SECONDS = 600


def keep_answers(session: Session, ctx: LinkContext, answers: Mapping[int, str], now: datetime | None = None) -> str:
    """Keep the non-secret answers as typed; returns the key ('' for none)."""
    values = {
        str(q.id): str(answers.get(q.id) or "")[:100] for q in ctx.questions if q.kind != "secret" and answers.get(q.id)
    }
    if not values:
        return ""
    key = secrets.token_urlsafe(16)
    until = (now or utcnow()) + timedelta(seconds=KEEP_SECONDS)
    ctx.link.kept_answers = json.dumps({"key": hash_token(key), "until": until.isoformat(), "values": values})
    session.add(ctx.link)
    return key


def kept_answers(session: Session, link_id: int, key: str, now: datetime | None = None) -> dict[int, str]:
    """What ``keep_answers`` kept under ``key`` on this link, while it lasts."""
    if not key or len(key) > 64:
        return {}
    raw = session.exec(select(Link.kept_answers).where(Link.id == link_id)).first()
    try:
        kept = json.loads(raw) if raw else {}
        if not hmac.compare_digest(str(kept.get("key", "")), hash_token(key)):
            return {}
        if datetime.fromisoformat(kept["until"]) < (now or utcnow()):
            return {}
        return {int(qid): str(text) for qid, text in kept["values"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


# ---------------------------------------------------------------- one-time code


def new_otp_code() -> str:
    """A fresh one-time code: ``OTP_DIGITS`` digits from ``secrets``."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def _otp_hash(link_id: int, code: str) -> str:
    return keyed_hash(get_settings().secret_key, "otp", str(link_id), code)


def send_otp_sms(recipient: Recipient, text: str) -> str:
    """Send the code through the configured SMS provider (Twilio's API, or the
    built-in simulator). Runs in a worker thread; returns the provider's id.
    Raises on provider failure. The default ``send`` of ``request_otp``."""
    import asyncio

    from smspay_app.providers.sms.base import SendRequest

    settings = get_settings()

    from smspay_app.db import session_scope
    from smspay_app.models import Campaign
    from smspay_app.services import connections

    # The campaign's SMS account (its connection, the organisation's default
    # or the environment's), as for every other SMS.
    with session_scope() as s:
        campaign = s.get(Campaign, recipient.campaign_id)
        spec = connections.sms_route(s, campaign=campaign, organisation_id=recipient.organisation_id)

    async def _send() -> str:
        provider = connections.build_sms_provider(spec, settings)
        try:
            message = await provider.send(
                SendRequest(
                    to=recipient.phone_e164, sender=spec.sender or settings.twilio_from, body=text, reference="otp"
                )
            )
            return message.sid
        finally:
            await provider.aclose()

    return asyncio.run(_send())


# Sends the code's text to the recipient; raises when the provider fails.
OtpSender = Callable[[Recipient, str], object]


@dataclass
class OtpSendResult:
    sent: bool
    reason: str  # sent | cooldown | cap | locked | failed
    wait_seconds: int = 0


def request_otp(
    session: Session,
    ctx: LinkContext,
    *,
    lang: str = "ja",
    send: OtpSender = send_otp_sms,
    new_code: Callable[[], str] = new_otp_code,
) -> OtpSendResult:
    """Send a new one-time code for the link (cooldown and cap permitting).
    ``send`` delivers the SMS and ``new_code`` makes the code: the configured
    SMS provider and ``secrets`` unless the caller passes others."""
    link = ctx.link
    now = utcnow()
    if link.locked_at is not None:
        return OtpSendResult(False, "locked")
    if link.otp_sent_at is not None:
        elapsed = (now - link.otp_sent_at).total_seconds()
        if elapsed < OTP_RESEND_COOLDOWN_SECONDS:
            return OtpSendResult(False, "cooldown", int(OTP_RESEND_COOLDOWN_SECONDS - elapsed + 0.999))
    if link.otp_sends >= OTP_MAX_SENDS:
        return OtpSendResult(False, "cap")
    code = new_code()
    # Claim the send atomically before calling the provider (no double sends).
    claimed = session.execute(
        update(Link)
        .where(Link.id == link.id, Link.otp_sends == link.otp_sends, Link.locked_at.is_(None))
        .values(
            otp_hash=_otp_hash(link.id, code),
            otp_sent_at=now,
            otp_sends=Link.otp_sends + 1,
            otp_tries=0,
        )
    )
    if claimed.rowcount != 1:
        return OtpSendResult(False, "cooldown", OTP_RESEND_COOLDOWN_SECONDS)
    session.refresh(link)
    from smspay_app.services.sms_message import render_otp_sms

    text = render_otp_sms(ctx.organisation, code, OTP_VALID_SECONDS // 60, lang)
    try:
        send(ctx.recipient, text)
    except Exception as exc:  # the provider failed: the code is not usable
        link.otp_hash = None
        session.add(link)
        timeline.record(session, ctx.recipient, "otp_failed", detail={"link_id": link.id, "error": type(exc).__name__})
        if getattr(exc, "account_level", False):
            # The provider refused the organisation's account or sender (a
            # rotated token, a suspended account), not this code: stop its
            # sending and tell the operator, as the dispatcher does.
            from smspay_app.services import sending

            paused = sending.pause_for_account_error(session, ctx.recipient.organisation_id)
            log.warning(
                "SMS provider refused organisation %s's account or sender for a one-time code; "
                "sending stopped, %d campaign(s) paused",
                ctx.recipient.organisation_id,
                len(paused),
            )
        return OtpSendResult(False, "failed")
    timeline.record(session, ctx.recipient, "otp_sent", detail={"link_id": link.id, "send": link.otp_sends})
    return OtpSendResult(True, "sent")


def verify_otp(session: Session, ctx: LinkContext, code: str) -> VerifyResult:
    """Check a one-time code, under the link's lock (``hold_link``): concurrent
    tries count one after the other and never pass ``OTP_MAX_TRIES``."""
    link = ctx.link
    now = utcnow()
    state = hold_link(session, ctx)
    if state != "ok":
        return _refused_by_state(state)
    if link.otp_hash is None or link.otp_sent_at is None:
        return VerifyResult(False, "no_code")
    if (now - link.otp_sent_at).total_seconds() > OTP_VALID_SECONDS:
        return VerifyResult(False, "expired_code")
    if link.otp_tries >= OTP_MAX_TRIES:
        return VerifyResult(False, "too_many_tries", 0)
    digits = "".join(ch for ch in (code or "").translate(_FULLWIDTH) if ch.isdigit())[:OTP_DIGITS]
    session.execute(update(Link).where(Link.id == link.id).values(otp_tries=Link.otp_tries + 1))
    session.refresh(link)
    if len(digits) == OTP_DIGITS and hmac.compare_digest(_otp_hash(link.id, digits), link.otp_hash or ""):
        link.otp_hash = None  # single use
        session.add(link)
        token = start_session(session, ctx)
        return VerifyResult(True, "ok", session_token=token)
    timeline.record(
        session, ctx.recipient, "verify_failed", detail={"link_id": link.id, "attempt": link.otp_tries, "mode": "otp"}
    )
    left = OTP_MAX_TRIES - link.otp_tries
    if left <= 0:
        link.otp_hash = None
        session.add(link)
        if link.otp_sends >= OTP_MAX_SENDS:
            _lock(session, ctx, reason="codes_used_up")
            return VerifyResult(False, "locked", 0)
        return VerifyResult(False, "too_many_tries", 0)
    return VerifyResult(False, "wrong", left)


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


# ---------------------------------------------------------------- session


def start_session(session: Session, ctx: LinkContext) -> str:
    """Open the verified session: returns the raw cookie value (hash stored)."""
    now = utcnow()
    token = new_token()
    ctx.link.session_hash = hash_token(token)
    ctx.link.session_expires_at = now + timedelta(minutes=SESSION_MINUTES)
    ctx.link.kept_answers = ""  # verified: nothing typed is kept any longer
    session.add(ctx.link)
    timeline.record(session, ctx.recipient, "verified", step="verified", at=now, detail={"link_id": ctx.link.id})
    return token


def session_valid(ctx: LinkContext, cookie_value: str | None, now: datetime | None = None) -> bool:
    link = ctx.link
    if not cookie_value or not link.session_hash or link.session_expires_at is None:
        return False
    if (now or utcnow()) >= link.session_expires_at:
        return False
    return hmac.compare_digest(hash_token(cookie_value[:64]), link.session_hash)


URL_SESSION_CHARS = 32  # 128 bits, hex


def url_session_value(ctx: LinkContext, now: datetime | None = None) -> str | None:
    """The verified session as it may travel in the URL (issue 14: the i-mode
    browser keeps no cookie): an opaque 128-bit value, derived with the
    server's key from this link's id and its current session (only the
    session's hash is stored), so it is bound to the link, dies with the
    session (30 minutes, a lock, a reissue end it) and never reveals the
    cookie. None without a live session."""
    link = ctx.link
    if not link.session_hash or link.session_expires_at is None:
        return None
    if (now or utcnow()) >= link.session_expires_at:
        return None
    digest = keyed_hash(get_settings().secret_key, "url-session", str(link.id), link.session_hash)
    return digest[:URL_SESSION_CHARS]


def url_session_valid(ctx: LinkContext, value: str | None, now: datetime | None = None) -> bool:
    if not value or len(value) != URL_SESSION_CHARS:
        return False
    expected = url_session_value(ctx, now)
    return expected is not None and hmac.compare_digest(value, expected)


def end_session(session: Session, ctx: LinkContext) -> None:
    end_sessions(session, ctx.link)


# ---------------------------------------------------------------- message / read


def merge_fields(recipient: Recipient, lang: str = "ja") -> dict[str, str]:
    """Merge fields of the recipient page message: the SMS's, plus ``amount``
    (dates in the page's language)."""
    from smspay_app.domain.sms_text import fields_from_merge_data

    return fields_from_merge_data(recipient.merge_data, recipient.name, amount_yen=recipient.amount_yen, lang=lang)


def mark_read(session: Session, ctx: LinkContext) -> bool:
    """The recipient confirmed a notice as read (once). Returns True when new."""
    if ctx.recipient.read_at is not None:
        return False
    timeline.record(session, ctx.recipient, "read", step="read", detail={"link_id": ctx.link.id})
    return True


def payment_state(session: Session, ctx: LinkContext) -> tuple[str, Payment | None]:
    """``paid`` (with the succeeded payment), ``processing``, ``failed``, ``open``
    or ``none``, from our database (the webhook is the truth)."""
    payments = list(
        session.exec(
            select(Payment)
            # a partial payment recorded by staff is neither paid nor a checkout (issue 18 item 11)
            .where(Payment.recipient_id == ctx.recipient.id, Payment.status != "partial")
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
    )
    for p in payments:
        if p.status in ("succeeded", "manual"):
            return "paid", p
    if ctx.recipient.paid_at is not None:
        return "paid", None
    now = utcnow()
    for p in payments:
        # a voucher past its deadline counts as expired (the person may start again)
        if p.status == "processing" and not (p.expires_at is not None and p.expires_at <= now):
            return "processing", p
    if payments:
        latest = payments[0]
        if latest.status in ("failed", "expired", "cancelled", "processing"):
            return "failed", latest
        return "open", latest
    return "none", None
