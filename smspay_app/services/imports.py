"""Recipient CSV import: one uploaded file into one campaign.

Partial-import rule (also shown to the user, ``import.rule``): valid rows are
imported; rows with errors, duplicates (within the file or already in the
campaign) and opted-out numbers are skipped and listed with row number,
column and reason. A file that cannot be read as a whole (not a CSV, empty,
too large, no phone column, a mapped column missing) imports nothing.

Everything is one transaction: recipients, their hashed identity answers and
their "imported" timeline events are written together with the report row, or
not at all (then only the report row, status ``failed``, is written). Rows are
processed in chunks with bulk inserts, so 100,000 rows take seconds and never
sit in UI state; ``progress(done, total)`` is called after each chunk.

The import is its own unit of work, the one exception to "services flush,
entry points commit" (with ``services/totp``'s failed-code counter): it
commits the recipients with their report, or rolls back and commits the
``failed`` report, because that report must survive the exception the entry
point re-raises. Call it on a session holding no other pending work.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from smspay_app.domain.answers import hash_answer, normalize_answer
from smspay_app.domain.clock import utcnow
from smspay_app.domain.csv_import import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    CsvError,
    ParsedCsv,
    StreamedCsv,
    parse_amount_yen,
    parse_date,
    parse_invoice_lines,
    read_csv_streamed,
    suggest_mapping,
)
from smspay_app.domain.formatting import yen
from smspay_app.domain.phone import normalize_phone
from smspay_app.domain.sms_text import LINK_FIELD, template_fields
from smspay_app.i18n import t
from smspay_app.models import (
    Campaign,
    CampaignQuestion,
    IdentityAnswer,
    OptOut,
    Organisation,
    Recipient,
    RecipientImport,
    TimelineEvent,
)
from smspay_app.services import stats
from smspay_app.settings import get_settings

_log = logging.getLogger("smspay.imports")

CHUNK_ROWS = 2000
_MERGE_ENCODER = json.JSONEncoder(ensure_ascii=False)
# Canonical keys copied into merge_data next to the file's own headers.
MERGE_CANONICAL = ("name", "amount", "due_date", "customer_number")

ProgressFn = Callable[[int, int], None]

_RECIPIENT = Recipient.__table__
_ANSWER = IdentityAnswer.__table__
_EVENT = TimelineEvent.__table__
_RECIPIENT_COLUMNS = (
    "campaign_id",
    "organisation_id",
    "phone_e164",
    "name",
    "merge_data",
    "amount_yen",
    "due_date",
    "external_ref",
    "row_number",
    "carrier",
    "status",
    "failed_answer_count",
    "created_at",
    "invoice_lines_json",
)
_ROW_NUMBER_POS = _RECIPIENT_COLUMNS.index("row_number")
_AMOUNT_POS = _RECIPIENT_COLUMNS.index("amount_yen")
_ANSWER_COLUMNS = ("recipient_id", "question_id", "answer_hash")
_EVENT_COLUMNS = (
    "organisation_id",
    "campaign_id",
    "recipient_id",
    "kind",
    "at",
    "detail",
    "actor_user_id",
)


REJECTED_VALUE_MAX = 40  # characters of a rejected cell quoted in its error


def _reason(key: str, lang: str, params: dict[str, Any]) -> str:
    """An error's text; with the rejected cell quoted when it was kept
    (``value``: amounts, lines and dates only, never a phone number or an
    identity answer, which are personal or secret)."""
    text = t(key, lang, **params) if params else t(key, lang)
    if "value" in params:
        text += t("import.rejected_value", lang, value=params["value"])
    return text


def _error(row: int, column: str, key: str, lang: str, /, **params: Any) -> dict[str, Any]:
    if "value" in params:
        value = str(params["value"]).strip()
        params["value"] = value if len(value) <= REJECTED_VALUE_MAX else value[: REJECTED_VALUE_MAX - 1] + "…"
    return {
        "row": row,
        "column": column,
        "reason_key": key,
        "params": params,
        "reason": _reason(key, lang, params),
    }


def import_recipients_csv(
    session: Session,
    campaign: Campaign,
    data: bytes,
    *,
    filename: str = "",
    user_id: int | None = None,
    mapping: dict[str, str] | None = None,
    lang: str = "ja",
    progress: ProgressFn | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> RecipientImport:
    """Import ``data`` into ``campaign`` and return the committed report row
    (``status`` ``done`` or ``failed``; counts; ``errors`` JSON list of
    ``{row, column, reason_key, params, reason}``; ``message``). ``mapping`` is
    canonical field -> header (None: ``suggest_mapping``). Commits the session."""
    now = utcnow()
    report = RecipientImport(
        campaign_id=campaign.id,
        organisation_id=campaign.organisation_id,
        filename=(filename or "")[:255],
        status="running",
        created_by_user_id=user_id,
        created_at=now,
    )
    try:
        with _import_cache(session):
            _ingest(
                session,
                campaign,
                read_csv_streamed(data, max_bytes=max_bytes, max_rows=max_rows),
                report,
                mapping,
                lang,
                progress,
            )
    except CsvError as exc:
        session.rollback()
        return _fail(session, report, lang, exc.code, exc.params)
    except Exception:
        session.rollback()
        _fail(session, report, lang, "import.failed", {"reason": ""})
        raise
    session.commit()
    return report


def _fail(session: Session, report: RecipientImport, lang: str, key: str, params: dict[str, Any]) -> RecipientImport:
    """Record a failed import (nothing else written) and return its row."""
    reason = t(key, lang, **params) if params else t(key, lang)
    failed = RecipientImport(
        campaign_id=report.campaign_id,
        organisation_id=report.organisation_id,
        filename=report.filename,
        status="failed",
        created_by_user_id=report.created_by_user_id,
        created_at=report.created_at,
        finished_at=utcnow(),
        message=reason if key == "import.failed" else t("import.failed", lang, reason=reason),
        errors=json.dumps(
            [{"row": 0, "column": "", "reason_key": key, "params": params, "reason": reason}],
            ensure_ascii=False,
        ),
    )
    session.add(failed)
    session.commit()
    return failed


def import_recipient_rows(
    session: Session,
    campaign: Campaign,
    headers: list[str],
    rows: list[list[str]],
    *,
    source: str = "api",
    user_id: int | None = None,
    lang: str = "ja",
) -> tuple[RecipientImport, dict[int, int]]:
    """Recipients given as rows of text under ``headers`` (the REST API): the
    very same validation, duplicate and opt-out rules as a CSV file, row ``i``
    numbered ``i + 1``. Returns the committed report (errors per row) and the
    new recipient id of each imported row number. Commits the session."""
    now = utcnow()
    report = RecipientImport(
        campaign_id=campaign.id,
        organisation_id=campaign.organisation_id,
        filename=source[:255],
        status="running",
        created_by_user_id=user_id,
        created_at=now,
    )
    parsed = ParsedCsv(
        headers=list(headers), rows=rows, encoding="utf-8", delimiter=",", row_numbers=list(range(1, len(rows) + 1))
    )
    created: dict[int, int] = {}
    try:
        _ingest(session, campaign, parsed, report, {h: h for h in headers}, lang, None, created=created)
    except CsvError as exc:
        session.rollback()
        return _fail(session, report, lang, exc.code, exc.params), {}
    except Exception:
        session.rollback()
        raise
    session.commit()
    return report, created


def _ingest(
    session: Session,
    campaign: Campaign,
    parsed: ParsedCsv | StreamedCsv,
    report: RecipientImport,
    mapping: dict[str, str] | None,
    lang: str,
    progress: ProgressFn | None,
    *,
    created: dict[int, int] | None = None,
) -> None:
    headers = parsed.headers
    index = {h: i for i, h in enumerate(headers)}
    mapping = dict(mapping) if mapping is not None else suggest_mapping(headers)
    mapping = {k: v for k, v in mapping.items() if v}
    for header in mapping.values():
        if header not in index:
            raise CsvError("csv.unknown_column", column=header)
    if "phone" not in mapping:
        raise CsvError("csv.no_phone_column")

    org = session.get(Organisation, campaign.organisation_id)
    region = (org.default_region if org else "JP") or "JP"
    allow_foreign = bool(org.allow_foreign_numbers) if org else False

    questions = list(
        session.execute(
            select(CampaignQuestion)
            .where(CampaignQuestion.campaign_id == campaign.id)
            .order_by(CampaignQuestion.position, CampaignQuestion.id)
        ).scalars()
    )
    question_cols: list[tuple[CampaignQuestion, int, str]] = []
    suggested = suggest_mapping(headers) if questions else {}
    for q in questions:
        # A header by name, else a canonical field (mapped, else suggested).
        header = q.column if q.column in index else mapping.get(q.column, suggested.get(q.column))
        if header is None:
            # A column named in another language ("生年月日" for a file with
            # "date of birth"): through the canonical field it stands for.
            canonical = next(iter(suggest_mapping([q.column])), None)
            if canonical is not None:
                header = mapping.get(canonical, suggested.get(canonical))
        if header is None or header not in index:
            raise CsvError("csv.unknown_column", column=q.column)
        question_cols.append((q, index[header], header))

    # Merge fields the SMS needs: a row without a value cannot be sent.
    canonical_merge = set(MERGE_CANONICAL)
    required_fields: list[tuple[str, int | None, str]] = []  # field, column index, header
    for name in template_fields(campaign.sms_template or ""):
        if name == LINK_FIELD:
            continue
        if name in index:
            required_fields.append((name, index[name], name))
        elif name in canonical_merge and name in mapping:
            required_fields.append((name, index[mapping[name]], mapping[name]))
        # else: unknown to this file; the template editor reports it.

    # Writing the report row first takes the database's write lock (SQLite) /
    # opens the transaction, so the duplicate and opt-out sets read below stay
    # true until commit; it also gives the timeline events their import id.
    session.add(report)
    session.flush()

    existing = set(session.execute(select(Recipient.phone_e164).where(Recipient.campaign_id == campaign.id)).scalars())
    opted_out = set(
        session.execute(select(OptOut.phone_e164).where(OptOut.organisation_id == campaign.organisation_id)).scalars()
    )

    phone_i = index[mapping["phone"]]
    phone_h = mapping["phone"]
    # Identity answers are kept only as their keyed hashes (issue 18, item
    # 12: the whole row, a birth date or a PIN included, used to be copied
    # into merge_data for CSV and API imports alike): an answer column is
    # never a merge field, a name, an amount, a due date or a reference.
    answer_cols = {col_i for _, col_i, _ in question_cols}

    def _not_answer(i: int | None) -> int | None:
        return None if i in answer_cols else i

    name_i = _not_answer(index.get(mapping.get("name", ""), None))
    amount_i = _not_answer(index.get(mapping.get("amount", ""), None))
    amount_h = mapping.get("amount", "")
    due_i = _not_answer(index.get(mapping.get("due_date", ""), None))
    due_h = mapping.get("due_date", "")
    cust_i = _not_answer(index.get(mapping.get("customer_number", ""), None))
    # The caller's own reference (the REST API's ``reference``); a CSV has none:
    # its customer number is the reference too.
    ref_i = _not_answer(index.get(mapping.get("reference", ""), None))
    lines_i = _not_answer(index.get(mapping.get("lines", ""), None))
    lines_h = mapping.get("lines", "")
    merge_headers = [(i, h) for i, h in enumerate(headers) if i not in answer_cols]
    encode_merge = _merge_encoder(merge_headers)
    width = len(headers)
    secret_key = get_settings().secret_key
    now = utcnow()
    default_amount = campaign.amount_yen or 0
    campaign_pays = bool(campaign.payment_enabled)
    default_due = campaign.due_date

    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    imported = rejected = duplicates = opted = 0
    total = parsed.row_count
    done = 0

    campaign_id = campaign.id
    organisation_id = campaign.organisation_id
    report_id = report.id
    actor_id = report.created_by_user_id
    questions_kinds = [(q.id, q.kind, col_i, header) for q, col_i, header in question_cols]

    pending: list[tuple] = []  # recipient rows in _RECIPIENT_COLUMNS order
    pending_answers: list[list[tuple[int, str]]] = []  # per pending recipient: (question id, normalised)
    writer = _BulkWriter(session)

    def flush() -> None:
        if not pending:
            return
        ids = writer.insert_recipients(pending)
        stats.add_inserted(
            session, campaign_id, organisation_id, len(ids), sum(int(r[_AMOUNT_POS] or 0) for r in pending)
        )
        if created is not None:
            created.update((rec[_ROW_NUMBER_POS], rid) for rid, rec in zip(ids, pending))
        answer_rows = []
        event_rows = []
        for rid, rec, answers in zip(ids, pending, pending_answers):
            for qid, normalized in answers:
                answer_rows.append((rid, qid, hash_answer(secret_key, rid, qid, normalized)))
            event_rows.append(
                (
                    organisation_id,
                    campaign_id,
                    rid,
                    "imported",
                    now,
                    f'{{"import_id": {report_id}, "row": {rec[_ROW_NUMBER_POS]}}}',
                    actor_id,
                )
            )
        writer.insert(_ANSWER, _ANSWER_COLUMNS, answer_rows)
        writer.insert(_EVENT, _EVENT_COLUMNS, event_rows)
        pending.clear()
        pending_answers.clear()

    dumps = _MERGE_ENCODER.encode
    for row_number, row in parsed.iter_rows():
        done += 1
        if len(row) < width:
            row = row + [""] * (width - len(row))
        row_errors: list[dict[str, Any]] = []

        phone = normalize_phone(row[phone_i], region, allow_foreign)
        if phone.error:
            row_errors.append(_error(row_number, phone_h, phone.error, lang))

        amount = default_amount
        amount_given = False
        if amount_i is not None:
            raw_amount = row[amount_i].strip()
            if raw_amount:
                parsed_amount = parse_amount_yen(raw_amount)
                if parsed_amount is None:
                    row_errors.append(_error(row_number, amount_h, "import.invalid_amount", lang, value=raw_amount))
                else:
                    amount = parsed_amount
                    amount_given = True

        # the recipient's own invoice lines: their total is the amount (one amount everywhere)
        own_lines = ""
        if lines_i is not None and row[lines_i].strip():
            parsed_lines = parse_invoice_lines(row[lines_i])
            if parsed_lines is None:
                row_errors.append(_error(row_number, lines_h, "import.invalid_lines", lang, value=row[lines_i]))
            elif parsed_lines:
                lines_total = sum(q * u for _, q, u in parsed_lines)
                if amount_given and amount != lines_total:
                    row_errors.append(
                        _error(
                            row_number, lines_h, "import.lines_total", lang, total=yen(lines_total), amount=yen(amount)
                        )
                    )
                else:
                    amount = lines_total
                    own_lines = dumps([list(line) for line in parsed_lines])

        if campaign_pays and amount <= 0 and not row_errors:
            # nothing to charge: the campaign has no amount and the row gives none
            row_errors.append(_error(row_number, amount_h or phone_h, "import.amount_missing", lang))

        due = default_due
        if due_i is not None:
            raw_due = row[due_i].strip()
            if raw_due:
                due = parse_date(raw_due)
                if due is None:
                    row_errors.append(_error(row_number, due_h, "import.invalid_date", lang, value=raw_due))

        answers: list[tuple[int, str]] = []
        for qid, kind, col_i, header in questions_kinds:
            raw = row[col_i]
            if not raw.strip():
                row_errors.append(_error(row_number, header, "answer.missing", lang, column=header))
                continue
            normalized = normalize_answer(raw, kind)
            if normalized is None:
                key = {"date": "answer.invalid_date", "digits": "answer.invalid_digits"}.get(kind, "answer.invalid")
                row_errors.append(_error(row_number, header, key, lang, column=header))
            else:
                answers.append((qid, normalized))

        for field_name, col_i, header in required_fields:
            if not row[col_i].strip():
                row_errors.append(_error(row_number, header, "import.missing_value", lang, field=field_name))

        e164 = phone.e164
        if row_errors:
            rejected += 1
            errors.extend(row_errors)
        elif e164 in opted_out:
            opted += 1
            errors.append(_error(row_number, phone_h, "import.opted_out", lang))
        elif e164 in seen:
            duplicates += 1
            errors.append(_error(row_number, phone_h, "import.duplicate_in_file", lang, first_row=seen[e164]))
        elif e164 in existing:
            duplicates += 1
            errors.append(_error(row_number, phone_h, "import.duplicate_in_campaign", lang))
        else:
            seen[e164] = row_number
            name = row[name_i].strip() if name_i is not None else ""
            customer = row[cust_i].strip() if cust_i is not None else ""
            reference = row[ref_i].strip() if ref_i is not None else customer
            pending.append(
                (
                    campaign_id,
                    organisation_id,
                    e164,
                    name,
                    encode_merge(row, (name, str(amount), due.isoformat() if due else "", customer)),
                    amount,
                    due,
                    reference,
                    row_number,
                    "",
                    "created",
                    0,
                    now,
                    own_lines,
                )
            )
            pending_answers.append(answers)
            imported += 1
        if done % CHUNK_ROWS == 0:
            flush()
            if progress:
                progress(done, total)
    flush()
    if progress:
        progress(done, total)

    report.total_rows = total
    report.processed_rows = done
    report.imported_rows = imported
    report.rejected_rows = rejected
    report.duplicate_rows = duplicates
    report.opted_out_rows = opted
    report.errors = json.dumps(errors, ensure_ascii=False)
    report.message = t(
        "import.summary",
        lang,
        imported=imported,
        rejected=rejected,
        duplicates=duplicates,
        opted_out=opted,
    )
    report.status = "done"
    report.finished_at = utcnow()
    session.add(report)


IMPORT_CACHE_KIB = 65536  # SQLite page cache while a file imports


@contextmanager
def _import_cache(session: Session) -> Iterator[None]:
    """On SQLite, a larger page cache for the import's connection (the
    recipient table's seven indexes take random-order inserts; with the
    default 2 MB cache their pages went back and forth to the WAL), restored
    after. Elsewhere nothing."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(before)}")


def _merge_encoder(merge_headers: list[tuple[int, str]]) -> Callable[[list[str], tuple[str, ...]], str]:
    """A row's ``merge_data`` JSON: exactly ``json.dumps({header: cell, ...,
    **canonical}, ensure_ascii=False)`` (the file's headers in order, a later
    repeated header's cell winning, then ``MERGE_CANONICAL`` overriding or
    appended), with the keys encoded once per import instead of once per row
    (issue 16, item 3). Every cell is text: the csv module and the API
    (``services.api``) both give ``str``."""
    from json.encoder import encode_basestring  # the C encoder behind ensure_ascii=False

    order: list[str] = []
    source: dict[str, tuple[bool, int]] = {}  # key -> (from the row?, index)
    for i, h in merge_headers:
        if h not in source:
            order.append(h)
        source[h] = (True, i)
    for k, c in enumerate(MERGE_CANONICAL):
        if c not in source:
            order.append(c)
        source[c] = (False, k)
    plan = [(encode_basestring(key) + ": ", *source[key]) for key in order]

    def encode(row: list[str], canonical: tuple[str, ...]) -> str:
        return (
            "{"
            + ", ".join(
                [prefix + encode_basestring(row[i] if from_row else canonical[i]) for prefix, from_row, i in plan]
            )
            + "}"
        )

    return encode


class _BulkWriter:
    """Bulk inserts inside the session's transaction. On SQLite, plain DBAPI
    ``executemany`` with the columns' own bind processors (dates stored exactly
    as the ORM stores them) and recipient ids allocated after the current
    maximum: safe because the transaction already holds SQLite's single write
    lock (the report row was flushed first). On PostgreSQL with psycopg 3,
    ``COPY ... FROM STDIN`` with recipient ids drawn from the table's
    sequence. Elsewhere, SQLAlchemy's insertmanyvalues with RETURNING in
    parameter order."""

    def __init__(self, session: Session):
        self.session = session
        self.connection = session.connection()
        self.dialect = self.connection.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self._next_id: int | None = None
        # PostgreSQL through psycopg 3: COPY (issue 16, item 3; the
        # insertmanyvalues path cost ~180 µs of CPU per row in this process).
        self.copy = self.dialect.name == "postgresql" and self.dialect.driver == "psycopg"
        self._prepared: dict[tuple, tuple[str, list[tuple[int, Any]]]] = {}
        self._converted: dict[tuple, Any] = {}

    def _statement(self, table: Any, columns: tuple[str, ...]) -> tuple[str, list[tuple[int, Any]]]:
        key = (table.name, columns)
        if key not in self._prepared:
            quote = self.dialect.identifier_preparer.quote
            processors = [
                (i, p)
                for i, p in enumerate(table.c[c].type.bind_processor(self.dialect) for c in columns)
                if p is not None
            ]
            sql = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            self._prepared[key] = (sql, processors)
        return self._prepared[key]

    def insert(self, table: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.copy:
            self._copy(table, columns, rows)
            return
        if not self.sqlite:
            self.session.execute(insert(table), [dict(zip(columns, r)) for r in rows])
            return
        sql, processors = self._statement(table, columns)
        if processors:
            converted = self._converted
            out = []
            for r in rows:
                r = list(r)
                for i, p in processors:
                    v = r[i]
                    if v is not None:
                        k = (p, v)
                        cv = converted.get(k)
                        if cv is None:
                            cv = converted[k] = p(v)
                        r[i] = cv
                out.append(r)
            rows = out
        cursor = self.connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def _copy(self, table: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        quote = self.dialect.identifier_preparer.quote
        sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        cursor = self.connection.connection.driver_connection.cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def insert_recipients(self, rows: list[tuple]) -> list[int]:
        if self.copy:
            # ids taken from the table's own sequence first (COPY returns none), in row order
            ids = sorted(
                self.connection.exec_driver_sql(
                    "SELECT nextval(pg_get_serial_sequence('recipient', 'id')) FROM generate_series(1, %(n)s)",
                    {"n": len(rows)},
                ).scalars()
            )
            self._copy(_RECIPIENT, ("id",) + _RECIPIENT_COLUMNS, [(i,) + r for i, r in zip(ids, rows)])
            return ids
        if not self.sqlite:
            return list(
                self.session.execute(
                    insert(_RECIPIENT).returning(_RECIPIENT.c.id, sort_by_parameter_order=True),
                    [dict(zip(_RECIPIENT_COLUMNS, r)) for r in rows],
                ).scalars()
            )
        if self._next_id is None:
            current = self.connection.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM recipient").scalar()
            self._next_id = int(current) + 1
        ids = list(range(self._next_id, self._next_id + len(rows)))
        self._next_id += len(rows)
        self.insert(_RECIPIENT, ("id",) + _RECIPIENT_COLUMNS, [(i,) + r for i, r in zip(ids, rows)])
        return ids


def report_errors(report: RecipientImport) -> list[dict[str, Any]]:
    try:
        return json.loads(report.errors or "[]")
    except ValueError:
        return []


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def errors_csv(report: RecipientImport, lang: str) -> bytes:
    """The row-level error list as a CSV download (UTF-8 with BOM so Excel reads
    it), reasons in ``lang``; cells that a spreadsheet would run as a formula
    are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            t("import.errors_header_row", lang),
            t("import.errors_header_column", lang),
            t("import.errors_header_reason", lang),
        ]
    )
    for err in report_errors(report):
        key = err.get("reason_key") or ""
        params = err.get("params") or {}
        try:
            reason = _reason(key, lang, params)
        except (KeyError, IndexError):
            reason = err.get("reason", "")
        writer.writerow([err.get("row", ""), _safe_cell(err.get("column", "")), _safe_cell(reason)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# ---------------------------------------------------------------- watching a running import


class ImportWatch:
    """Watches a running import's progress (``tick`` at each poll of the page's
    background task) and logs one line when it stalls: no row for
    ``stall_ticks`` polls in a row (issue 17, item 7: stalled imports left no
    trace). Counted polls, not a clock (the suite runs under faketime). Logs
    again only after the import moved on and stalled anew; ``failed`` logs the
    import's end by an exception in one line (ids and counts only)."""

    def __init__(self, campaign_id: int, *, stall_ticks: int = 200, poll_seconds: float = 0.3) -> None:
        self.campaign_id = campaign_id
        self.stall_ticks = stall_ticks
        self.poll_seconds = poll_seconds
        self._last: tuple[int, int] | None = None
        self._still = 0
        self.stalled = False

    def tick(self, done: int, total: int) -> None:
        now = (done, total)
        if now != self._last:
            self._last, self._still, self.stalled = now, 0, False
            return
        self._still += 1
        if self._still == self.stall_ticks:
            self.stalled = True
            _log.warning(
                "import into campaign %d stalled: %d of %d rows, no progress for %.0f s",
                self.campaign_id,
                done,
                total,
                self.stall_ticks * self.poll_seconds,
            )

    def failed(self, exc: BaseException) -> None:
        done, total = self._last or (0, 0)
        _log.error(
            "import into campaign %d failed after %d of %d rows: %s", self.campaign_id, done, total, type(exc).__name__
        )
        _log.debug("import failure", exc_info=exc)
