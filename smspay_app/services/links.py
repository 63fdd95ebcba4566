"""Short links: issue (token shown once, hash stored), find, revoke.

``revoke_live_links`` is the one way a link dies (issue, reissue, cancel, the
dispatcher's batch). Functions flush; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import exists, update
from sqlmodel import Session, select

from smspay_app.db import ReadConnection
from smspay_app.domain.clock import utcnow
from smspay_app.domain.security import hash_token, new_token
from smspay_app.models import Campaign, CampaignQuestion, Link, Organisation, Payment, Recipient
from smspay_app.settings import get_settings

LINK_PATH = "/l/"


def link_url(token: str) -> str:
    return f"{get_settings().public_base_url}{LINK_PATH}{token}"


def issue_link(
    session: Session,
    recipient: Recipient,
    lifetime_hours: int,
    *,
    now: datetime | None = None,
    revoke_reason: str = "replaced",
) -> tuple[Link, str]:
    """A new link for ``recipient``; any live link it had is revoked. Returns the
    link row and the raw token (which exists only in the SMS from here on)."""
    now = now or utcnow()
    revoke_live_links(session, [recipient.id], revoke_reason, now)
    token = new_token()
    link = Link(
        recipient_id=recipient.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(hours=lifetime_hours),
    )
    session.add(link)
    session.flush()
    return link, token


def find_link(session: Session, token: str) -> Link | None:
    if not token or len(token) > 64:
        return None
    return session.exec(select(Link).where(Link.token_hash == hash_token(token))).first()


def find_link_context(session: Session, token: str):
    """The link with its recipient, campaign, organisation and the campaign's
    identity questions (ordered by position), in one indexed query (token hash
    is unique and indexed; questions come through an outer join). Returns
    ``(link, recipient, campaign, organisation, questions)`` or None."""
    if not token or len(token) > 64 or not token.isalnum():
        return None
    rows = session.exec(
        select(Link, Recipient, Campaign, Organisation, CampaignQuestion)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .join(Organisation, Organisation.id == Campaign.organisation_id)
        .outerjoin(CampaignQuestion, CampaignQuestion.campaign_id == Campaign.id)
        .where(Link.token_hash == hash_token(token))
        .order_by(CampaignQuestion.position, CampaignQuestion.id)
    ).all()
    if not rows:
        return None
    link, recipient, campaign, organisation, _ = rows[0]
    questions = [row[4] for row in rows if row[4] is not None]
    return link, recipient, campaign, organisation, questions


def revoke_live_links(session: Session, recipient_ids: Iterable[int], reason: str, now: datetime | None = None) -> int:
    """Revoke every live link of these recipients in one UPDATE: the link
    stops working and any verified session on it ends. Returns how many links
    were live. Objects already loaded in ``session`` see the change (the
    UPDATE synchronises them)."""
    ids = list(recipient_ids)
    if not ids:
        return 0
    result = session.exec(
        update(Link)
        .where(Link.recipient_id.in_(ids), Link.revoked_at.is_(None))
        .values(revoked_at=now or utcnow(), revoked_reason=reason, session_hash=None, session_expires_at=None)
    )
    return int(result.rowcount or 0)


def end_sessions(session: Session, link: Link) -> None:
    """End the link's verified session (whoever holds its cookie must pass the
    identity check again). Revocation (``revoke_live_links``) does the same in
    its UPDATE; a lock and an unlock do it here."""
    link.session_hash = None
    link.session_expires_at = None
    session.add(link)


def unlock_link(session: Session, link: Link) -> None:
    """Staff unlock: clear the lockout and the wrong-answer count, and end any
    session opened before (the 2026 attack run: a cookie refused with 403 while
    the link was locked opened the invoice again after the unlock)."""
    link.locked_at = None
    link.failed_attempts = 0
    link.otp_tries = 0
    end_sessions(session, link)


# --- the light read path for GET /l/{token} (hot: scanners, reloads) ----------

_VIEW_TABLES = (
    ("link", Link.__table__),
    ("recipient", Recipient.__table__),
    ("campaign", Campaign.__table__),
    ("organisation", Organisation.__table__),
    ("question", CampaignQuestion.__table__),
)


# Only what the GET pages read (fewer columns: less row processing).
_VIEW_COLUMNS = {
    "link": (
        "id",
        "recipient_id",
        "created_at",
        "expires_at",
        "revoked_at",
        "locked_at",
        "clicked_at",
        "otp_hash",
        "otp_sent_at",
        "session_hash",
        "session_expires_at",
    ),
    "recipient": ("id", "organisation_id", "campaign_id", "status", "erased_at"),
    "campaign": ("id", "name", "page_title", "status", "verification_mode", "payment_enabled", "recipient_language"),
    "organisation": ("id", "name", "sender_name", "support_phone", "official_url", "status"),
    "question": ("id", "campaign_id", "position", "label", "kind"),
}


def _view_statement():
    from sqlalchemy import bindparam
    from sqlalchemy import select as core_select

    lt, rt, ct, ot, qt = (t for _, t in _VIEW_TABLES)
    columns = [table.c[col].label(f"{name}__{col}") for name, table in _VIEW_TABLES for col in _VIEW_COLUMNS[name]]
    return (
        core_select(*columns)
        .select_from(
            lt.join(rt, rt.c.id == lt.c.recipient_id)
            .join(ct, ct.c.id == rt.c.campaign_id)
            .join(ot, ot.c.id == ct.c.organisation_id)
            .outerjoin(qt, qt.c.campaign_id == ct.c.id)
        )
        .where(lt.c.token_hash == bindparam("token_hash"))
        .order_by(qt.c.position, qt.c.id)
    )


_VIEW_STMT = _view_statement()


def _view_slices() -> tuple[tuple[str, tuple[str, ...], int, int], ...]:
    """Where each table's columns sit in a row of ``_VIEW_STMT``, computed
    once (the GET path split every column label per request)."""
    slices, start = [], 0
    for name, _ in _VIEW_TABLES:
        columns = _VIEW_COLUMNS[name]
        slices.append((name, columns, start, start + len(columns)))
        start += len(columns)
    return tuple(slices)


_VIEW_SLICES = _view_slices()
_view_compiled: dict[str, tuple] = {}


def _run_view(reader: ReadConnection, token_hash: str) -> list:
    """``_VIEW_STMT``'s rows through the driver's own cursor: the statement
    compiled once per dialect, its columns' result processors applied as
    SQLAlchemy would (the GET path spent more in SQLAlchemy's per-execute
    bookkeeping than in the database; issue 16, item 2)."""
    dialect = reader.dialect
    prepared = _view_compiled.get(dialect.name)
    if prepared is None:
        compiled = _VIEW_STMT.compile(dialect=dialect)
        processors = [c.type._cached_result_processor(dialect, None) for c in _VIEW_STMT.selected_columns]
        positional = compiled.positiontup is not None and dialect.positional
        prepared = _view_compiled[dialect.name] = (compiled.string, positional, processors)
    sql, positional, processors = prepared
    cursor = reader.driver.cursor()
    try:
        cursor.execute(sql, (token_hash,) if positional else {"token_hash": token_hash})
        raw = cursor.fetchall()
    finally:
        cursor.close()
    if not raw:
        return []
    return [[value if (fn := processors[i]) is None else fn(value) for i, value in enumerate(row)] for row in raw]


class RowView:
    """A read-only stand-in for a model row (attribute access only)."""

    __slots__ = ("__dict__",)

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def find_link_view(reader: ReadConnection, token: str):
    """Like ``find_link_context`` but with no ORM objects: one indexed query
    (on ``db.read_connection()``) returning read-only views ``(link,
    recipient, campaign, organisation, questions)``, or None. For pages that
    only read."""
    if not token or len(token) > 64 or not token.isalnum():
        return None
    rows = _run_view(reader, hash_token(token))
    if not rows:
        return None
    first = rows[0]
    parts = {name: dict(zip(columns, first[start:stop])) for name, columns, start, stop in _VIEW_SLICES}
    questions = []
    q_start, q_stop = _VIEW_SLICES[-1][2], _VIEW_SLICES[-1][3]
    q_columns = _VIEW_COLUMNS["question"]
    for row in rows:
        values = row[q_start:q_stop]
        if values[0] is not None:  # the question's id (an outer join)
            questions.append(RowView(dict(zip(q_columns, values))))
    return (
        RowView(parts["link"]),
        RowView(parts["recipient"]),
        RowView(parts["campaign"]),
        RowView(parts["organisation"]),
        questions,
    )


# Statuses at which a link's expiry changes nothing: the journey has ended, or
# the recipient is already at a side exit that staff must act on.
# Expiry applies only to links that could still have been used: not after the
# SMS failed, the link locked or the journey ended (paid, read, cancelled,
# opted out), nor while a payment is under way (a konbini slip being paid).
_EXPIRY_IGNORED = ("paid", "read", "cancelled", "opted_out", "expired", "locked", "failed")


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Record the ``expired`` step (timeline ``link_expired``; the
    ``recipient.expired`` webhook) for recipients whose live link has passed its
    expiry. Idempotent: an expired recipient is not matched again, and a
    reissue revokes the old link. Returns how many were marked; flushes (the
    worker step commits)."""
    from smspay_app.services import timeline

    now = now or utcnow()
    rows = session.exec(
        select(Link, Recipient)
        .join(Recipient, Recipient.id == Link.recipient_id)
        .where(
            Link.revoked_at.is_(None),
            Link.expires_at <= now,
            Recipient.status.not_in(_EXPIRY_IGNORED),
            ~exists().where(Payment.recipient_id == Recipient.id, Payment.status == "processing"),
        )
        .order_by(Link.expires_at)
        .limit(limit)
    ).all()
    for link, recipient in rows:
        timeline.record(
            session, recipient, "link_expired", step="expired", at=link.expires_at, detail={"link_id": link.id}
        )
    session.flush()
    return len(rows)
