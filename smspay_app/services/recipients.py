"""Finding recipients across an organisation (server-side paging, sorting,
status filter, search by phone, name or customer number) and reading one
recipient's details and timeline. Every query is scoped by the caller's
organisation and served by an index (see ``alembic/versions/0003_ops.py``).

Nothing here returns identity answers: they are hashes, and never shown."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from smspay_app.domain import funnel
from smspay_app.domain.phone import clean_phone
from smspay_app.models import (
    AuditLog,
    Campaign,
    InboundMessage,
    Link,
    Organisation,
    Payment,
    Recipient,
    SendAttempt,
    TimelineEvent,
    User,
)
from smspay_app.services.auth import Caller

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
STATUSES = funnel.SHOWN_STATES
SORTS = {
    "id": Recipient.id,
    "name": Recipient.name,
    "phone": Recipient.phone_e164,
    "status": Recipient.status,
    "amount": Recipient.amount_yen,
}


@dataclass
class RecipientQuery:
    campaign_id: int | None = None
    status: str = ""
    q: str = ""
    sort: str = "id"
    descending: bool = False
    page: int = 0
    page_size: int = PAGE_SIZE


@dataclass
class RecipientRow:
    id: int
    campaign_id: int
    campaign_name: str
    phone_e164: str
    name: str
    external_ref: str
    amount_yen: int
    status: str  # the shown state (``shown_states``)
    payment_deadline: datetime | None = None


# ------------------------------------------------------------------ shown state


@dataclass(frozen=True)
class ShownState:
    """What the desk sees of a recipient: the one vocabulary of the tables, the
    export and the API (``domain.funnel.shown_state``), and the deadline of a
    pending konbini / bank-transfer payment (None when unknown)."""

    status: str
    payment_deadline: datetime | None = None


def payment_deadline(payment: Payment) -> datetime | None:
    """When a pending payment lapses (the payment gateway's deadline), if known."""
    return payment.expires_at


def pending_payment_condition():
    """SQL: the recipient has a payment under way (``processing``)."""
    from sqlalchemy import exists

    return exists().where(Payment.recipient_id == Recipient.id, Payment.status == "processing")


def shown_state_conditions(status: str) -> list:
    """SQL conditions selecting the recipients *shown* in ``status`` (a status
    filter: ``payment_pending``, or a funnel status without those shown as
    payment pending)."""
    if status == funnel.PAYMENT_PENDING:
        return [pending_payment_condition(), Recipient.status.not_in(funnel.SETTLED)]
    if status in funnel.SETTLED:
        return [Recipient.status == status]
    return [Recipient.status == status, ~pending_payment_condition()]


def shown_states(session: Session, recipients: list[tuple[int, str]]) -> dict[int, ShownState]:
    """The shown state of each ``(recipient id, funnel status)``: one query for
    their pending payments (the latest one's deadline)."""
    ids = {rid for rid, status in recipients if status not in funnel.SETTLED}  # the others never show it
    pending: dict[int, Payment] = {}
    if ids:
        # A range of ids, not IN (thousands of ids): an export's batch of 2,000
        # spent a tenth of its time compiling the IN list (issue 16 item 6).
        wanted = Payment.recipient_id.in_(ids) if len(ids) <= 50 else Payment.recipient_id.between(min(ids), max(ids))
        for payment in session.exec(select(Payment).where(wanted, Payment.status == "processing").order_by(Payment.id)):
            if payment.recipient_id in ids:
                pending[payment.recipient_id] = payment
    out: dict[int, ShownState] = {}
    for rid, status in recipients:
        payment = pending.get(rid)
        shown = funnel.shown_state(status, payment_pending=payment is not None)
        deadline = payment_deadline(payment) if payment is not None and shown == funnel.PAYMENT_PENDING else None
        out[rid] = ShownState(shown, deadline)
    return out


def shown_state(session: Session, recipient: Recipient) -> ShownState:
    return shown_states(session, [(recipient.id, recipient.status)])[recipient.id]


@dataclass
class RecipientPage:
    rows: list[RecipientRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _phone_prefix(cleaned: str, region_code: str = "+81") -> str | None:
    """E.164 prefix for what was typed as a (partial) phone number, or None
    when it does not look like one. ``090-12`` -> ``+819012``."""
    if cleaned.startswith("+") and cleaned[1:].isdigit():
        return cleaned
    if not cleaned.isdigit():
        return None
    if cleaned.startswith("0") and not cleaned.startswith("00"):
        return region_code + cleaned[1:]
    return None


def search_condition(q: str):
    """The WHERE clause for the search box, each form served by an index:

    - a phone number, whole or its beginning, however it is typed (full-width,
      hyphens, 0 or +81): a range on the E.164 column (``090-12`` -> ``+819012``);
    - 1 to 4 digits: the last digits of the number (a short scan of the page's rows);
    - anything else: a customer number (exact) or the beginning of the name
      (the surname, as people give it on the phone): a range on the name.
    """
    text = unicodedata.normalize("NFKC", q or "").strip()
    if not text:
        return None
    cleaned = clean_phone(text)
    if cleaned.isdigit() and len(cleaned) <= 4:
        return or_(
            Recipient.phone_e164.like(f"%{_like_escape(cleaned)}", escape="\\"),
            Recipient.external_ref == text,
        )
    prefix = _phone_prefix(cleaned)
    if prefix is not None:
        return or_(_prefix_range(Recipient.phone_e164, prefix), Recipient.external_ref == text)
    return or_(_prefix_range(Recipient.name, text), Recipient.external_ref == text)


def _prefix_range(column, prefix: str):
    """``column`` starts with ``prefix``, as a range an index serves."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (column >= prefix) & (column < upper)


def search(session: Session, caller: Caller, query: RecipientQuery) -> RecipientPage:
    caller.require("campaign.view")
    page_size = max(1, min(int(query.page_size or PAGE_SIZE), MAX_PAGE_SIZE))
    page = max(0, int(query.page or 0))
    # Erased recipients (retention) stay listed, with their personal data gone.
    if query.campaign_id:
        # One campaign: check it is ours once, then let the campaign indexes work.
        campaign = session.get(Campaign, query.campaign_id)
        if campaign is None or campaign.organisation_id != caller.organisation_id:
            return RecipientPage([], 0, 0, page_size)
        conditions = [Recipient.campaign_id == campaign.id]
    else:
        conditions = [Recipient.organisation_id == caller.organisation_id]
    if query.status:
        if query.status not in STATUSES:
            return RecipientPage([], 0, 0, page_size)
        conditions += shown_state_conditions(query.status)
    cond = search_condition(query.q)
    if cond is not None:
        conditions.append(cond)
    total = session.exec(select(func.count()).select_from(Recipient).where(*conditions)).one()
    column = SORTS.get(query.sort, Recipient.id)
    order = [column.desc() if query.descending else column.asc()]
    if column is not Recipient.id:
        order.append(Recipient.id.desc() if query.descending else Recipient.id.asc())
    rows = session.exec(
        select(
            Recipient.id,
            Recipient.campaign_id,
            Campaign.name,
            Recipient.phone_e164,
            Recipient.name,
            Recipient.external_ref,
            Recipient.amount_yen,
            Recipient.status,
        )
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(*conditions)
        .order_by(*order)
        .offset(page * page_size)
        .limit(page_size)
    ).all()
    shown = shown_states(session, [(row[0], row[7]) for row in rows])
    return RecipientPage(
        [RecipientRow(*row[:7], shown[row[0]].status, shown[row[0]].payment_deadline) for row in rows],
        total,
        page,
        page_size,
    )


def campaign_choices(session: Session, caller: Caller) -> list[tuple[int, str]]:
    caller.require("campaign.view")
    return [
        (c.id, c.name)
        for c in session.exec(
            select(Campaign).where(Campaign.organisation_id == caller.organisation_id).order_by(Campaign.id.desc())
        )
    ]


# ------------------------------------------------------------------ detail


@dataclass
class LinkInfo:
    id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str
    locked_at: datetime | None
    failed_attempts: int
    clicked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.expires_at:
            return "expired"
        if self.locked_at is not None:
            return "locked"
        return "live"


@dataclass
class RecipientDetail:
    recipient: Recipient
    campaign: Campaign
    organisation: Organisation
    links: list[LinkInfo]
    steps: dict[str, datetime | None] = field(default_factory=dict)


def get_detail(session: Session, caller: Caller, recipient_id: int) -> RecipientDetail | None:
    """One recipient of the caller's organisation (None otherwise): its data,
    campaign, links (newest first) and each step's first timestamp. No
    identity answers."""
    caller.require("campaign.view")
    recipient = session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.organisation_id != caller.organisation_id:
        return None
    campaign = session.get(Campaign, recipient.campaign_id)
    organisation = session.get(Organisation, recipient.organisation_id)
    links = [
        LinkInfo(
            l.id,
            l.created_at,
            l.expires_at,
            l.revoked_at,
            l.revoked_reason,
            l.locked_at,
            l.failed_attempts,
            l.clicked_at,
        )
        for l in session.exec(select(Link).where(Link.recipient_id == recipient.id).order_by(Link.id.desc()))
    ]
    steps = {step: getattr(recipient, f"{step}_at") for step in funnel.TIMESTAMPED}
    return RecipientDetail(recipient, campaign, organisation, links, steps)


# ---------------------------------------------------------------- timeline


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    detail: dict[str, Any]
    actor: str = ""  # staff member's name for staff actions
    reason: str = ""  # the reason given for a staff action
    flagged_bot: bool = False  # a link preview / scanner fetch, not the person
    attempt: dict[str, Any] | None = None  # the send attempt it is about: kind, status, provider id, error


def timeline(session: Session, caller: Caller, recipient_id: int, *, limit: int = 500) -> list[TimelineEntry]:
    """Every event of one recipient, oldest first, with the staff member and
    reason of staff actions and the send attempt (provider message id, error)
    that SMS events are about."""
    caller.require("campaign.view")
    recipient = session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.organisation_id != caller.organisation_id:
        return []
    events = session.exec(
        select(TimelineEvent, User.display_name, User.email)
        .outerjoin(User, User.id == TimelineEvent.actor_user_id)
        .where(TimelineEvent.recipient_id == recipient.id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
        .limit(limit)
    ).all()
    audits = {
        a.id: a
        for a in session.exec(
            select(AuditLog).where(
                AuditLog.target_type == "recipient",
                AuditLog.target_id == recipient.id,
                AuditLog.organisation_id == caller.organisation_id,
            )
        )
    }
    attempts = {a.id: a for a in session.exec(select(SendAttempt).where(SendAttempt.recipient_id == recipient.id))}
    out: list[TimelineEntry] = []
    for event, display_name, email in events:
        try:
            detail = json.loads(event.detail or "{}")
        except ValueError:
            detail = {}
        entry = TimelineEntry(at=event.at, kind=event.kind, detail=detail)
        if event.actor_user_id is not None:
            entry.actor = display_name or email or ""
        audit = audits.get(detail.get("audit_id")) if isinstance(detail.get("audit_id"), int) else None
        if audit is not None:
            entry.reason = audit.reason
        entry.flagged_bot = event.kind == "preview" or detail.get("ua") in ("preview", "bot", "scanner")
        attempt = attempts.get(detail.get("attempt_id")) if isinstance(detail.get("attempt_id"), int) else None
        if attempt is not None:
            entry.attempt = {
                "kind": attempt.kind,
                "status": attempt.status,
                "provider_message_id": attempt.provider_message_id or "",
                "error_code": attempt.error_code,
                "error_message": attempt.error_message,
                "try_number": attempt.try_number,
            }
        out.append(entry)
    return out


def audit_entries(session: Session, caller: Caller, recipient_id: int) -> list[tuple[AuditLog, str]]:
    """The audit records about one recipient, newest first, with the staff
    member's name."""
    caller.require("campaign.view")
    return [
        (a, name or email or "")
        for a, name, email in session.exec(
            select(AuditLog, User.display_name, User.email)
            .outerjoin(User, User.id == AuditLog.user_id)
            .where(
                AuditLog.organisation_id == caller.organisation_id,
                AuditLog.target_type == "recipient",
                AuditLog.target_id == recipient_id,
            )
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        )
    ]


def payments_of(session: Session, caller: Caller, recipient_id: int) -> list[Payment]:
    caller.require("campaign.view")
    return list(
        session.exec(
            select(Payment)
            .where(Payment.recipient_id == recipient_id, Payment.organisation_id == caller.organisation_id)
            .order_by(Payment.id.desc())
        )
    )


# ------------------------------------------------------------------ replies


@dataclass
class ReplyRow:
    id: int
    received_at: datetime
    from_phone: str
    body: str
    is_opt_out: bool
    recipient_id: int | None
    recipient_name: str
    campaign_id: int | None
    campaign_name: str
    opt_out_unsure: bool = False  # may be an opt-out: for the desk to decide


def replies(
    session: Session, caller: Caller, *, campaign_id: int | None = None, page: int = 0, page_size: int = PAGE_SIZE
) -> tuple[list[ReplyRow], int]:
    """The organisation's inbox of SMS replies, newest first (optionally one
    campaign's), with the recipient and campaign they answer. Stored by
    ``services.replies.handle_inbound``."""
    caller.require("campaign.view")
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    conditions = [InboundMessage.organisation_id == caller.organisation_id]
    if campaign_id:
        conditions.append(Recipient.campaign_id == campaign_id)
    base = (
        select(InboundMessage, Recipient.name, Campaign.id, Campaign.name)
        .outerjoin(Recipient, Recipient.id == InboundMessage.recipient_id)
        .outerjoin(Campaign, Campaign.id == Recipient.campaign_id)
        .where(*conditions)
    )
    total = session.exec(
        select(func.count())
        .select_from(InboundMessage)
        .outerjoin(Recipient, Recipient.id == InboundMessage.recipient_id)
        .where(*conditions)
    ).one()
    rows = session.exec(
        base.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .offset(max(0, page) * page_size)
        .limit(page_size)
    ).all()
    return [
        ReplyRow(
            m.id,
            m.received_at,
            m.from_phone,
            m.body,
            m.is_opt_out,
            m.recipient_id,
            rname or "",
            cid,
            cname or "",
            m.opt_out_unsure,
        )
        for m, rname, cid, cname in rows
    ], total
