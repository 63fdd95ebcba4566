"""The organisation's opt-out list: view, add, remove (with a reason, audited),
and CSV import. Adding goes through ``services.replies.opt_out`` (the same path
an opt-out reply takes: queued messages to the number are cancelled and its
recipients become ``opted_out``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.csv_import import CsvError, read_csv, suggest_mapping
from smspay_app.domain.phone import clean_phone, mask_phone, normalize_phone
from smspay_app.models import AuditLog, OptOut, Organisation, User
from smspay_app.services import replies
from smspay_app.services.auth import Caller
from smspay_app.services.support import SupportError, clean_reason

PERMISSION = "optout.manage"
PAGE_SIZE = 50
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000


@dataclass
class OptOutRow:
    id: int
    phone_e164: str
    reason: str
    source: str
    created_at: datetime
    created_by: str


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    rejected: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)  # {row, value, reason(i18n key)}


def _audit(
    session: Session, caller: Caller, action: str, optout_id: int | None, phone: str, reason: str, **extra
) -> None:
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action=f"optout.{action}",
            target_type="optout",
            target_id=optout_id,
            reason=reason,
            detail=json.dumps({"phone": mask_phone(phone), **extra}, ensure_ascii=False),
            at=utcnow(),
        )
    )


def list_optouts(
    session: Session, caller: Caller, *, q: str = "", page: int = 0, page_size: int = PAGE_SIZE
) -> tuple[list[OptOutRow], int]:
    caller.require(PERMISSION)
    conditions = [OptOut.organisation_id == caller.organisation_id]
    digits = clean_phone(q or "")
    if digits:
        if digits.startswith("0") and digits.isdigit():
            digits = "+81" + digits[1:]
        conditions.append(OptOut.phone_e164.contains(digits))
    total = session.exec(select(func.count()).select_from(OptOut).where(*conditions)).one()
    rows = session.exec(
        select(OptOut, User.display_name, User.email)
        .outerjoin(User, User.id == OptOut.created_by_user_id)
        .where(*conditions)
        .order_by(OptOut.created_at.desc(), OptOut.id.desc())
        .offset(max(0, page) * page_size)
        .limit(page_size)
    ).all()
    return [
        OptOutRow(o.id, o.phone_e164, o.reason, o.source, o.created_at, name or email or "") for o, name, email in rows
    ], total


def _normalise(session: Session, caller: Caller, raw: str) -> str:
    org = session.get(Organisation, caller.organisation_id)
    result = normalize_phone(raw, org.default_region, allow_foreign=True)
    if not result.ok:
        raise SupportError(result.error or "phone.invalid")
    return result.e164


def add_optout(session: Session, caller: Caller, raw_phone: str, reason: str = "") -> bool:
    """Put a number on the list. Returns False when it was already there.
    Raises ``SupportError`` with a ``phone.*`` key for a number that is not one."""
    caller.require(PERMISSION)
    phone = _normalise(session, caller, raw_phone)
    reason = " ".join((reason or "").split())[:500]
    exists = session.exec(
        select(OptOut.id).where(OptOut.organisation_id == caller.organisation_id, OptOut.phone_e164 == phone)
    ).first()
    if exists is not None:
        return False
    replies.opt_out(session, caller.organisation_id, phone, source="manual", reason=reason, user_id=caller.user_id)
    row = session.exec(
        select(OptOut).where(OptOut.organisation_id == caller.organisation_id, OptOut.phone_e164 == phone)
    ).one()
    _audit(session, caller, "add", row.id, phone, reason)
    session.flush()
    return True


def opt_out_by_link(session: Session, organisation_id: int, recipient_id: int, phone: str) -> bool:
    """The recipient asked to stop from its own page (the opt-out link: works
    where replies are not carried). The number leaves every campaign of the
    organisation (``replies.opt_out``: queued messages and reminders cancelled,
    its recipients ``opted_out``); audited as ``optout.link`` with no staff
    member. Returns False when the number was already on the list."""
    exists = session.exec(
        select(OptOut.id).where(OptOut.organisation_id == organisation_id, OptOut.phone_e164 == phone)
    ).first()
    if exists is not None:
        return False
    replies.opt_out(session, organisation_id, phone, source="link")
    row = session.exec(
        select(OptOut).where(OptOut.organisation_id == organisation_id, OptOut.phone_e164 == phone)
    ).one()
    session.add(
        AuditLog(
            organisation_id=organisation_id,
            user_id=None,
            action="optout.link",
            target_type="optout",
            target_id=row.id,
            detail=json.dumps({"phone": mask_phone(phone), "recipient_id": recipient_id}, ensure_ascii=False),
            at=utcnow(),
        )
    )
    session.flush()
    return True


def remove_optout(session: Session, caller: Caller, optout_id: int, reason: str) -> None:
    """Take a number off the list (future sends may reach it again). Recipients
    already marked ``opted_out`` stay so."""
    caller.require(PERMISSION)
    reason = clean_reason(reason)
    row = session.get(OptOut, optout_id) if optout_id else None
    if row is None or row.organisation_id != caller.organisation_id:
        raise SupportError("ops.error.not_found")
    _audit(session, caller, "remove", row.id, row.phone_e164, reason, source=row.source)
    session.delete(row)
    session.flush()


def import_csv(session: Session, caller: Caller, data: bytes, reason: str = "") -> ImportReport:
    """Add every number of a CSV (a column recognised as the phone, or the
    first column). Bad numbers are reported by row and skip nothing else.
    Raises ``CsvError`` for a file that cannot be read at all."""
    caller.require(PERMISSION)
    parsed = read_csv(data, max_bytes=MAX_IMPORT_BYTES, max_rows=MAX_IMPORT_ROWS)
    mapping = suggest_mapping(parsed.headers)
    column = mapping.get("phone")
    rows = parsed.rows
    numbers = parsed.row_numbers
    if column is None:
        # No header we recognise: a bare list of numbers (the "header" is a number too).
        if normalize_phone(parsed.headers[0]).ok:
            rows = [[parsed.headers[0]], *rows]
            numbers = [1, *numbers]
        index = 0
    else:
        index = parsed.headers.index(column)
    org = session.get(Organisation, caller.organisation_id)
    existing = set(session.exec(select(OptOut.phone_e164).where(OptOut.organisation_id == caller.organisation_id)))
    reason = " ".join((reason or "").split())[:500]
    report = ImportReport()
    added: list[str] = []
    for number, row in zip(numbers, rows):
        raw = row[index] if index < len(row) else ""
        result = normalize_phone(raw, org.default_region, allow_foreign=True)
        if not result.ok:
            report.rejected += 1
            if len(report.errors) < 200:
                report.errors.append({"row": str(number), "value": raw[:40], "reason": result.error or "phone.invalid"})
            continue
        if result.e164 in existing:
            report.already += 1
            continue
        existing.add(result.e164)
        replies.opt_out(
            session, caller.organisation_id, result.e164, source="import", reason=reason, user_id=caller.user_id
        )
        added.append(result.e164)
        report.added += 1
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="optout.import",
            target_type="optout",
            reason=reason,
            detail=json.dumps({"added": report.added, "already": report.already, "rejected": report.rejected}),
            at=utcnow(),
        )
    )
    session.flush()
    return report


__all__ = ["CsvError", "ImportReport", "OptOutRow", "add_optout", "import_csv", "list_optouts", "remove_optout"]
