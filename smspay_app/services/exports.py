"""CSV export of a campaign's recipients with their shown state (the table's
and the API's: ``services.recipients.shown_states``), every step's first
timestamp and a pending payment's deadline (in the organisation's time zone).
Every header and every worded value in the export's language (``lang``): the
phone as people read it, and last the machine column in E.164.

- Encodings: UTF-8 with BOM (default: Excel opens it correctly) or CP932
  (Shift_JIS for older Excel / Japanese tools; characters CP932 lacks become
  ``?``).
- Formula injection: a cell starting with ``= + - @``, a tab or a carriage
  return is prefixed with ``'`` so a spreadsheet shows it as text.
- Streamed: rows are read in keyset-paged batches and encoded chunk by chunk,
  never the whole campaign in memory."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

from sqlalchemy import String, type_coerce
from sqlmodel import Session, select

from smspay_app.domain import funnel
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import local_time_formatter, phone
from smspay_app.i18n import CATALOG as _CATALOG
from smspay_app.i18n import t
from smspay_app.models import AuditLog, Campaign, Organisation, Recipient
from smspay_app.services.auth import Caller
from smspay_app.services.recipients import shown_states

ENCODINGS = ("utf-8-sig", "cp932")
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2000
STEP_COLUMNS = funnel.TIMESTAMPED


class ExportError(Refused, ValueError):
    """An export refused: ``key`` is an i18n key."""


def neutralise(value: object) -> str:
    """The cell as text a spreadsheet will not evaluate."""
    text = "" if value is None else str(value)
    if text.startswith(DANGEROUS_STARTS):
        return "'" + text
    return text


def header(lang: str) -> list[str]:
    return [
        t("ops.export.col.row", lang),
        t("ops.export.col.phone", lang),
        t("ops.export.col.name", lang),
        t("ops.export.col.ref", lang),
        t("ops.export.col.amount", lang),
        t("ops.export.col.due", lang),
        t("ops.export.col.status", lang),
        *[t(f"ops.step.{step}", lang) for step in STEP_COLUMNS],
        t("ops.export.col.paid", lang),
        t("ops.export.col.payment_deadline", lang),
        t("ops.export.col.phone_e164", lang),
    ]


_STORED_E164 = re.compile(r"\+\d{6,15}")


def _e164(value: str) -> str:
    # A stored number is ``+`` and digits: a spreadsheet reads it as a number,
    # never a formula, and a program reads it as it is; anything else is
    # neutralised like every other cell.
    return value if _STORED_E164.fullmatch(value or "") else neutralise(value)


def prepare(session: Session, caller: Caller, campaign_id: int, encoding: str) -> tuple[Campaign, Organisation]:
    """Check the caller may export this campaign; audit the export. Raises
    ``auth.NotAllowed`` or ``ExportError``."""
    caller.require("recipient.export")
    if encoding not in ENCODINGS:
        raise ExportError("ops.error.encoding")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organisation_id != caller.organisation_id:
        raise ExportError("ops.error.not_found")
    organisation = session.get(Organisation, campaign.organisation_id)
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="export.recipients",
            target_type="campaign",
            target_id=campaign.id,
            detail=json.dumps({"encoding": encoding}),
            at=utcnow(),
        )
    )
    session.flush()
    return campaign, organisation


_EXPORT_COLUMNS = (
    "id",
    "row_number",
    "phone_e164",
    "name",
    "external_ref",
    "amount_yen",
    "due_date",
    "status",
    "erased_at",
    "paid_at",
    "partial_paid_yen",
    *(f"{step}_at" for step in STEP_COLUMNS),
)


def iter_rows(session: Session, campaign_id: int, timezone: str, lang: str) -> Iterator[list[str]]:
    """The header then one list of cells per recipient (neutralised), read in
    batches by id: only the columns exported, as plain rows (no ORM objects;
    issue 16, item 6)."""
    local = local_time_formatter(timezone)  # the row's costliest call, cached per hour (issue 16 item 6)

    status_texts: dict[str, str] = {}

    def status_text(status: str) -> str:
        text = status_texts.get(status)
        if text is None:
            key = f"rstatus.{status}"
            text = status_texts[status] = neutralise(t(key, lang) if key in _CATALOG else status)
        return text

    first_step = _EXPORT_COLUMNS.index(f"{STEP_COLUMNS[0]}_at")
    # The timestamps as the database gives them: on SQLite the stored text,
    # which ``local`` formats without parsing (a datetime elsewhere).
    columns = [
        type_coerce(getattr(Recipient, c), String) if c.endswith("_at") else getattr(Recipient, c)
        for c in _EXPORT_COLUMNS
    ]
    yield [neutralise(h) for h in header(lang)]
    last_id = 0
    while True:
        batch = (
            session.connection()
            .execute(  # Core rows: no ORM loading per row
                select(*columns)
                .where(Recipient.campaign_id == campaign_id, Recipient.id > last_id)
                .order_by(Recipient.id)
                .limit(BATCH)
            )
            .all()
        )
        if not batch:
            return
        shown = shown_states(session, [(r[0], r[7]) for r in batch])
        for r in batch:
            rid, row_number, phone_e164, name, ref, amount, due, _, erased_at, paid_at, partial = r[:first_step]
            erased = erased_at is not None
            state = shown[rid]
            yield [
                neutralise(row_number if row_number is not None else ""),
                neutralise("" if erased else phone(phone_e164)),
                neutralise("" if erased else name),
                neutralise("" if erased else ref),
                neutralise(amount),
                neutralise(due.isoformat() if due else ""),
                status_text(state.status),
                *[local(at) for at in r[first_step:]],
                # What was recorded: the whole amount once paid, else the partial payments (issue 18 item 11).
                neutralise(amount if paid_at is not None else partial),
                local(state.payment_deadline),
                "" if erased else _e164(phone_e164),
            ]
        last_id = batch[-1][0]


def encode_csv(rows: Iterator[list[str]], encoding: str, *, chunk_rows: int = 500) -> Iterator[bytes]:
    """CSV bytes in chunks: CRLF line ends (what Excel writes), a BOM first for
    UTF-8, unknown characters as ``?`` in CP932."""
    if encoding not in ENCODINGS:
        raise ExportError("ops.error.encoding")
    if encoding == "utf-8-sig":
        yield b"\xef\xbb\xbf"
        codec = "utf-8"
    else:
        codec = "cp932"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= chunk_rows:
            yield buffer.getvalue().encode(codec, errors="replace")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode(codec, errors="replace")


def filename(campaign: Campaign) -> str:
    return f"campaign-{campaign.id}-recipients.csv"
