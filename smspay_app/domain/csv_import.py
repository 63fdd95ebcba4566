"""Reading recipient files (pure logic, no database).

``read_csv`` takes the uploaded bytes: UTF-8 (with or without BOM), UTF-16
with BOM (Excel's "Unicode text") and Shift_JIS/CP932 are detected; comma or
tab separated; quoted fields may hold newlines. ``suggest_mapping`` proposes
which header holds which canonical field, from Japanese and English headers.
``parse_amount_yen`` and ``parse_date`` read money and dates the way people
type them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from smspay_app.domain.answers import parse_date
from smspay_app.domain.errors import Refused

__all__ = [
    "CANONICAL_FIELDS",
    "CsvError",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_COLUMNS",
    "MAX_CELL_CHARS",
    "ParsedCsv",
    "parse_amount_yen",
    "parse_invoice_lines",
    "parse_date",
    "read_csv",
    "suggest_mapping",
]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000
# Issue 18, item 11: a 100,000-column file reached the mapping step (a 1.49 MB
# state update) and a 10 MB cell was reported as "cannot be read as CSV".
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000

CANONICAL_FIELDS = (
    "phone",
    "name",
    "amount",
    "due_date",
    "customer_number",
    "birth_date",
    "postcode",
    "lines",
)


class CsvError(Refused, ValueError):
    """The file as a whole cannot be imported. ``code`` is an i18n key
    (``csv.not_csv``, ``csv.empty``, ``csv.too_large``, ``csv.too_many_rows``,
    ``csv.no_phone_column``, ``csv.encoding``, ``csv.unknown_column``); ``params``
    fill the message."""

    @property
    def code(self) -> str:
        return self.key

    @property
    def params(self) -> dict[str, object]:
        return self.fields


@dataclass
class ParsedCsv:
    headers: list[str]
    rows: list[list[str]]  # data rows (header excluded), blank rows dropped
    encoding: str  # "utf-8" | "utf-8-sig" | "utf-16" | "cp932"
    delimiter: str  # "," | "\t"
    row_numbers: list[int] = field(default_factory=list)  # file record number of each row (header = 1)

    def iter_rows(self) -> Iterator[tuple[int, list[str]]]:
        return zip(self.row_numbers, self.rows)

    @property
    def row_count(self) -> int:
        return len(self.rows)


@dataclass
class StreamedCsv:
    """A file read like ``read_csv`` reads it, but whose rows are parsed again
    from the bytes on each ``iter_rows()`` instead of held in memory (issue
    16, item 3: a 1,000,000-row file held as lists took over 1 GB). Made by
    ``read_csv_streamed``, which has already checked the whole file."""

    headers: list[str]
    encoding: str
    delimiter: str
    row_count: int
    _data: bytes = field(repr=False)
    _max_rows: int = field(repr=False)

    def iter_rows(self) -> Iterator[tuple[int, list[str]]]:
        for number, row in _records(self._data, self.encoding, self.delimiter, self._max_rows):
            if number > 0:
                yield number, row


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise CsvError("csv.encoding") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise CsvError("csv.encoding") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise CsvError("csv.encoding") from exc


_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def read_csv(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_rows: int = DEFAULT_MAX_ROWS) -> ParsedCsv:
    """Decode and split an uploaded recipient file. Raises ``CsvError`` when it
    is too large, empty, not text/CSV (spreadsheet, PDF, image...) or not in a
    supported encoding. Blank rows are dropped; headers are stripped, empty
    headers become ``columnN`` (N = position) and repeated ones are numbered
    (``金額_2``)."""
    if len(data) > max_bytes:
        raise CsvError("csv.too_large", max_mb=max(1, max_bytes // (1024 * 1024)))
    if not data.strip():
        raise CsvError("csv.empty")
    if data.startswith(_BINARY_MAGIC):
        raise CsvError("csv.not_csv")
    text, encoding = _decode(data)
    if "\x00" in text or len(_CONTROL_RE.findall(text[:4096])) > 8:
        raise CsvError("csv.not_csv")

    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows: list[list[str]] = []
    numbers: list[int] = []
    headers: list[str] | None = None
    try:
        for number, row in enumerate(reader, start=1):
            if len(row) > MAX_COLUMNS:
                raise CsvError("csv.too_many_columns", max_columns=MAX_COLUMNS, row=number)
            if any(len(cell) > MAX_CELL_CHARS for cell in row):
                raise CsvError("csv.cell_too_long", max_chars=MAX_CELL_CHARS, row=number)
            if not "".join(row).strip():
                continue  # blank line
            if headers is None:
                headers = _clean_headers(row)
                continue
            rows.append(row)
            numbers.append(number)
            if len(rows) > max_rows:
                raise CsvError("csv.too_many_rows", max_rows=max_rows)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise CsvError("csv.cell_too_long", max_chars=MAX_CELL_CHARS, row=reader.line_num) from exc
        raise CsvError("csv.not_csv") from exc
    if headers is None:
        raise CsvError("csv.empty")
    if len(headers) < 2 and not rows:
        # A single word and nothing else: nothing to import.
        raise CsvError("csv.empty")
    return ParsedCsv(headers=headers, rows=rows, encoding=encoding, delimiter=delimiter, row_numbers=numbers)


_STREAM_CHUNK = 1 << 20


def read_csv_streamed(
    data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_rows: int = DEFAULT_MAX_ROWS
) -> ParsedCsv | StreamedCsv:
    """``read_csv`` with the same checks, errors and rows, for large imports:
    the text is decoded in chunks and the rows are not kept (a first pass
    checks every record and counts the rows; ``iter_rows`` parses again).
    UTF-16 files are read whole (``read_csv``)."""
    if len(data) > max_bytes:
        raise CsvError("csv.too_large", max_mb=max(1, max_bytes // (1024 * 1024)))
    if not data.strip():
        raise CsvError("csv.empty")
    if data.startswith(_BINARY_MAGIC):
        raise CsvError("csv.not_csv")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return read_csv(data, max_bytes, max_rows)
    encoding = _encoding_of(data)
    head = data[: 4 * 4096 + 8].decode(encoding, errors="ignore")
    # UTF-8 and CP932 encode no other character with a 0 byte: "\x00" in the text.
    if b"\x00" in data or len(_CONTROL_RE.findall(head[:4096])) > 8:
        raise CsvError("csv.not_csv")
    # Neither UTF-8 nor CP932 has a tab or comma byte inside another character.
    first_line = data.split(b"\n", 1)[0]
    delimiter = "\t" if first_line.count(b"\t") > first_line.count(b",") else ","
    headers: list[str] | None = None
    count = 0
    for number, row in _records(data, encoding, delimiter, max_rows):
        if number < 0:
            headers = row
        else:
            count += 1
    if headers is None:
        raise CsvError("csv.empty")
    if len(headers) < 2 and not count:
        raise CsvError("csv.empty")
    return StreamedCsv(headers, encoding, delimiter, count, data, max_rows)


def _encoding_of(data: bytes) -> str:
    """``_decode``'s choice without decoding the whole file at once."""
    if data.startswith(b"\xef\xbb\xbf"):
        if not _decodes(data, "utf-8", 3):
            raise CsvError("csv.encoding")
        return "utf-8-sig"
    if _decodes(data, "utf-8"):
        return "utf-8"
    if _decodes(data, "cp932"):
        return "cp932"
    raise CsvError("csv.encoding")


def _decodes(data: bytes, codec: str, start: int = 0) -> bool:
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(data)
    try:
        for at in range(start, len(data), _STREAM_CHUNK):
            decoder.decode(view[at : at + _STREAM_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _records(data: bytes, encoding: str, delimiter: str, max_rows: int) -> Iterator[tuple[int, list[str]]]:
    """The file's records as ``read_csv`` takes them, decoded in chunks:
    ``(-1, cleaned headers)`` once, then ``(record number, row)`` for each
    data row; blank rows skipped; ``read_csv``'s errors."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=False)
    headers_seen = False
    rows = 0
    try:
        for number, row in enumerate(reader, start=1):
            if len(row) > MAX_COLUMNS:
                raise CsvError("csv.too_many_columns", max_columns=MAX_COLUMNS, row=number)
            if any(len(cell) > MAX_CELL_CHARS for cell in row):
                raise CsvError("csv.cell_too_long", max_chars=MAX_CELL_CHARS, row=number)
            if not "".join(row).strip():
                continue  # blank line
            if not headers_seen:
                headers_seen = True
                yield -1, _clean_headers(row)
                continue
            rows += 1
            if rows > max_rows:
                raise CsvError("csv.too_many_rows", max_rows=max_rows)
            yield number, row
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise CsvError("csv.cell_too_long", max_chars=MAX_CELL_CHARS, row=reader.line_num) from exc
        raise CsvError("csv.not_csv") from exc
    except UnicodeDecodeError as exc:  # checked before; kept as read_csv would say
        raise CsvError("csv.encoding") from exc


def _clean_headers(row: list[str]) -> list[str]:
    headers: list[str] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(row, start=1):
        name = cell.replace("\ufeff", "").strip() or f"column{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        headers.append(name)
    return headers


# --- header mapping ---------------------------------------------------------

SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": (
        "電話番号",
        "携帯番号",
        "携帯電話番号",
        "携帯電話",
        "携帯",
        "電話",
        "連絡先電話番号",
        "連絡先",
        "送信先",
        "送信先電話番号",
        "sms番号",
        "tel",
        "telno",
        "phone",
        "phonenumber",
        "mobile",
        "mobilenumber",
        "mobilephone",
        "cell",
        "cellphone",
        "msisdn",
        "携帯tel",
    ),
    "name": (
        "氏名",
        "名前",
        "お名前",
        "顧客名",
        "宛名",
        "会員名",
        "契約者名",
        "お客様名",
        "受取人",
        "name",
        "fullname",
        "customername",
        "recipient",
        "recipientname",
    ),
    "amount": (
        "金額",
        "請求金額",
        "請求額",
        "ご請求金額",
        "支払金額",
        "お支払金額",
        "合計金額",
        "合計",
        "料金",
        "税込金額",
        "amount",
        "amountyen",
        "price",
        "total",
        "totalamount",
        "billingamount",
    ),
    "lines": (
        "明細",
        "請求明細",
        "内訳",
        "lines",
        "invoicelines",
        "lineitems",
    ),
    "due_date": (
        "支払期限",
        "支払期日",
        "お支払期限",
        "お支払期日",
        "支払い期限",
        "期限",
        "期日",
        "納期限",
        "duedate",
        "due",
        "paymentdue",
        "deadline",
        "paybydate",
    ),
    "customer_number": (
        "顧客番号",
        "会員番号",
        "お客様番号",
        "顧客id",
        "顧客コード",
        "会員id",
        "契約番号",
        "管理番号",
        "customernumber",
        "customerid",
        "customerno",
        "accountnumber",
        "accountno",
        "memberid",
        "membernumber",
        "ref",
        "reference",
        "externalid",
        "externalref",
    ),
    "birth_date": (
        "生年月日",
        "誕生日",
        "birthdate",
        "dateofbirth",
        "dob",
        "birthday",
    ),
    "postcode": (
        "郵便番号",
        "〒",
        "postcode",
        "postalcode",
        "zip",
        "zipcode",
        "postal",
    ),
}

_HEADER_NOISE_RE = re.compile(r"[\s_\-・:：()（）\[\]［］「」※*]+")


def _norm_header(header: str) -> str:
    return _HEADER_NOISE_RE.sub("", unicodedata.normalize("NFKC", header or "")).casefold()


_EXACT: dict[str, str] = {_norm_header(s): canonical for canonical, words in SYNONYMS.items() for s in words}


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Canonical field -> header, for the headers that look like one. Exact
    matches (after NFKC, case and punctuation) first, then headers containing
    a known word (``携帯電話番号（ハイフンなし）``); each header used once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    normed = [(h, _norm_header(h)) for h in headers]
    for header, key in normed:
        canonical = _EXACT.get(key)
        if canonical and canonical not in mapping and header not in used:
            mapping[canonical] = header
            used.add(header)
    # Containment: longest known word wins, so 携帯電話番号 beats 電話.
    words = sorted(
        ((_norm_header(w), c) for c, ws in SYNONYMS.items() for w in ws),
        key=lambda item: len(item[0]),
        reverse=True,
    )
    for header, key in normed:
        if header in used:
            continue
        for word, canonical in words:
            if len(word) >= 2 and word in key and canonical not in mapping:
                mapping[canonical] = header
                used.add(header)
                break
    return {c: mapping[c] for c in CANONICAL_FIELDS if c in mapping}


# --- values -----------------------------------------------------------------

_AMOUNT_NOISE_RE = re.compile(r"[\s,¥￥$円]|JPY|YEN|税込|\(税込\)", re.IGNORECASE)
_AMOUNT_RE = re.compile(r"(\d+)(?:\.(0+))?")


def parse_amount_yen(raw: str | None) -> int | None:
    """Whole yen from ``1200``, ``1,200``, ``¥1,200``, ``１，２００円``,
    ``1200.0``; None when empty, negative, fractional or not a number."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    text = _AMOUNT_NOISE_RE.sub("", text)
    m = _AMOUNT_RE.fullmatch(text)
    if not m:
        return None
    value = int(m.group(1))
    return value if value <= 10**12 else None


MAX_RECIPIENT_LINES = 20
_LINE_RE = re.compile(r"^(?P<item>.+?)\s*[:：=]\s*(?P<amount>[^x×*]+?)(?:\s*[x×*]\s*(?P<qty>\d+))?$")


def parse_invoice_lines(raw: str | None) -> list[tuple[str, int, int]] | None:
    """A recipient's own invoice lines, (item, quantity, unit price in yen),
    from one cell: ``基本料金:10000; 従量料金:1170x2`` (``;`` or a newline
    between lines, ``:`` / ``=`` before the unit price, ``x`` / ``×`` before
    the quantity) or a JSON list of ``{"item", "quantity", "unit_price_yen"}``
    (the REST API). ``[]`` when empty; None when unreadable."""
    import json

    text = unicodedata.normalize("NFKC", str(raw or "")).strip()
    if not text:
        return []
    lines: list[tuple[str, int, int]] = []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, list):
            return None
        for entry in data:
            if not isinstance(entry, dict):
                return None
            item = str(entry.get("item") or "").strip()
            qty, unit = entry.get("quantity", 1), entry.get("unit_price_yen")
            if not item or not isinstance(qty, int) or not isinstance(unit, int) or qty < 1 or unit < 0:
                return None
            lines.append((item[:200], qty, unit))
    else:
        for part in re.split(r"[;\n]", text):
            part = part.strip()
            if not part:
                continue
            m = _LINE_RE.match(part)
            if not m:
                return None
            unit_yen = parse_amount_yen(m.group("amount"))
            qty = int(m.group("qty") or 1)
            if unit_yen is None or qty < 1:
                return None
            lines.append((m.group("item").strip()[:200], qty, unit_yen))
    if len(lines) > MAX_RECIPIENT_LINES:
        return None
    return lines
