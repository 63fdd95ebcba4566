"""SMS templates and sizes (pure logic, no I/O).

Templates use merge fields ``{{field}}`` (spaces allowed inside the braces) and
the link placeholder ``{{link}}``, appended when missing. The organisation's
sender name is shown as a prefix such as ``【ABC商事】``.

Sizes follow GSM 03.38: text made only of GSM-7 characters is sent in 7-bit
units (characters of the extension table take two units), one segment holds 160
units, a concatenated segment 153. Anything else forces UCS-2 (UTF-16 code
units): 70 in one segment, 67 a part. Japanese carriers cap a long SMS at 660
characters unless the organisation's contract allows more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field

from smspay_app.domain.errors import Refused

LINK_FIELD = "link"
MAX_MERGE_FIELDS = 10
DEFAULT_CHAR_CAP = 660

MERGE_FIELD_RE = re.compile(r"\{\{\s*([^{}\s](?:[^{}]*?[^{}\s])?)\s*\}\}")


class TemplateError(Refused, ValueError):
    """A template problem. ``code`` is an i18n key (``template.*``); ``field``
    names the merge field concerned, when there is one."""

    def __init__(self, code: str, field: str | None = None, message: str | None = None):
        super().__init__(code, **({"field": field} if field else {}))
        self.args = (message or (f"{code}: {field}" if field else code),)
        self.field = field

    @property
    def code(self) -> str:
        return self.key


# --- templates --------------------------------------------------------------


def template_fields(template: str) -> list[str]:
    """Merge field names in order of first use, without ``link``."""
    seen: dict[str, None] = {}
    for match in MERGE_FIELD_RE.finditer(template or ""):
        name = match.group(1)
        if name != LINK_FIELD:
            seen.setdefault(name, None)
    return list(seen)


def has_link_placeholder(template: str) -> bool:
    return any(m.group(1) == LINK_FIELD for m in MERGE_FIELD_RE.finditer(template or ""))


def ensure_link_placeholder(template: str) -> str:
    """The template with ``{{link}}``: unchanged when present, else appended on a
    new line (multi-line templates) or after a space."""
    template = template or ""
    if has_link_placeholder(template):
        return template
    if not template.strip():
        return "{{link}}"
    if template.endswith(("\n", " ", "\u3000")):
        return template + "{{link}}"
    if "\n" in template:
        return template + "\n{{link}}"
    return template + " {{link}}"


def check_template(template: str, known_fields: Iterable[str] | None = None) -> list[str]:
    """Validate a template; returns its fields. Raises ``TemplateError`` with
    ``template.too_many_fields`` (over 10 distinct fields), ``template.unbalanced``
    (stray ``{{``/``}}``) or ``template.unknown_field`` (a field not in
    ``known_fields``, when given)."""
    fields = template_fields(template)
    if len(fields) > MAX_MERGE_FIELDS:
        raise TemplateError("template.too_many_fields", fields[MAX_MERGE_FIELDS])
    rest = MERGE_FIELD_RE.sub("", template or "")
    if "{{" in rest or "}}" in rest:
        raise TemplateError("template.unbalanced")
    if known_fields is not None:
        known = set(known_fields)
        for name in fields:
            if name not in known:
                raise TemplateError("template.unknown_field", name)
    return fields


def sender_prefix_for(sender_name: str) -> str:
    """``ABC商事`` -> ``【ABC商事】``; already bracketed names are kept; empty -> ''."""
    name = (sender_name or "").strip()
    if not name:
        return ""
    if name[0] in "【[［(（<＜":
        return name
    return f"【{name}】"


def _merge(template: str, fields: Mapping[str, object], link_url: str | None) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == LINK_FIELD and link_url is not None:
            return link_url
        if name not in fields:
            raise TemplateError("template.unknown_field", name)
        value = fields[name]
        text = "" if value is None else str(value).strip()
        if not text:
            raise TemplateError("template.missing_value", name)
        return text

    return MERGE_FIELD_RE.sub(replace, template or "")


def render_sms(template: str, fields: Mapping[str, str], link_url: str, sender_prefix: str = "") -> str:
    """The SMS body for one recipient: merge fields filled, ``{{link}}`` replaced
    by ``link_url`` (added at the end when missing) and ``sender_prefix``
    prepended unless the text already starts with it. Raises ``TemplateError``
    (``template.unknown_field`` / ``template.missing_value``)."""
    text = _merge(ensure_link_placeholder(template), fields, link_url)
    if sender_prefix and not text.startswith(sender_prefix):
        text = sender_prefix + text
    return text


def render_text(template: str, fields: Mapping[str, str]) -> str:
    """Merge fields for the recipient page message (same rules, no link)."""
    return _merge(template, fields, None)


# --- sizes ------------------------------------------------------------------

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    length: int  # encoding units: septets (extension chars 2) or UTF-16 code units
    chars: int  # characters (code points)
    segments: int
    ucs2_chars: list[str] = dc_field(default_factory=list)  # distinct, in order
    over_cap: bool = False


def _segments(costs: Iterable[int], total: int, single: int, multi: int) -> int:
    """Segments needed; a character (escape pair / surrogate pair) never splits."""
    if total == 0:
        return 1
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments


def analyze_sms(text: str, char_cap: int = DEFAULT_CHAR_CAP) -> SmsInfo:
    """Encoding, size and segment count of ``text``. An empty text counts as one
    (empty) segment. ``over_cap`` when it has more than ``char_cap`` characters."""
    text = text or ""
    ucs2: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            ucs2.setdefault(ch, None)
    chars = len(text)
    if not ucs2:
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        length = sum(costs)
        segments = _segments(costs, length, GSM7_SINGLE, GSM7_MULTI)
        encoding = "GSM-7"
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        length = sum(costs)
        segments = _segments(costs, length, UCS2_SINGLE, UCS2_MULTI)
        encoding = "UCS-2"
    return SmsInfo(
        encoding=encoding,
        length=length,
        chars=chars,
        segments=segments,
        ucs2_chars=list(ucs2),
        over_cap=chars > char_cap,
    )


def estimate_cost_yen(segments: int, price_per_segment_yen: float) -> int:
    """Cost in whole yen (rounded up) for ``segments`` at the given price."""
    return int(math.ceil(segments * float(price_per_segment_yen) - 1e-9))


@dataclass
class TemplateEstimate:
    """Worst case of a template over all rows (with the real link length)."""

    worst: SmsInfo | None  # None when no row rendered
    worst_row: int | None  # index into the rows given
    total_segments: int
    cost_yen: int
    rows: int
    errors: list[dict[str, object]] = dc_field(default_factory=list)  # {index, code, field}


def fields_from_merge_data(
    merge_data: str | Mapping[str, object] | None,
    name: str | None = None,
    *,
    amount_yen: int | None = None,
    lang: str = "ja",
) -> dict[str, str]:
    """A recipient's merge fields: the one definition, used by the SMS, its
    preview and estimates, and the recipient page. ``merge_data`` is the
    ``Recipient.merge_data`` JSON (unreadable JSON or a non-object counts as
    empty); values become strings, ``None`` -> ''. ``name`` (the recipient's
    name) fills ``{{name}}`` when the row has no such column; ``amount_yen``
    likewise fills ``{{amount}}``. Amounts and dates read as people read them
    everywhere (SMS, page): ``{{amount}}`` as ``¥12,800`` and ``{{due_date}}``
    (stored ISO) as ``2026年12月10日`` (``lang="en"``: ``10 Dec 2026``)."""
    import json
    from datetime import date

    from smspay_app.domain.formatting import people_date, yen

    data: object = merge_data
    if isinstance(merge_data, str):
        try:
            data = json.loads(merge_data or "{}")
        except ValueError:
            data = {}
    fields = {str(k): "" if v is None else str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}
    if name is not None:
        fields.setdefault("name", name)
    if amount_yen is not None:
        fields.setdefault("amount", str(amount_yen))
    raw_amount = fields.get("amount", "").replace(",", "")
    if raw_amount.isdigit():
        fields["amount"] = yen(int(raw_amount))
    raw_due = fields.get("due_date", "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_due):
        try:
            fields["due_date"] = people_date(date.fromisoformat(raw_due), lang)
        except ValueError:
            pass
    return fields


def example_link_url(base_url: str, path: str = "/l/", token_length: int = 22) -> str:
    """A link as long as a real one (tokens are 22 base62 characters)."""
    return f"{base_url.rstrip('/')}{path}{'X' * token_length}"


def estimate_template(
    template: str,
    rows: Iterable[Mapping[str, str]],
    link_url: str,
    *,
    sender_prefix: str = "",
    char_cap: int = DEFAULT_CHAR_CAP,
    price_per_segment_yen: float = 0.0,
    suffix: str = "",
) -> TemplateEstimate:
    """Render the template for each row (``link_url`` as long as a real link) and
    keep the longest result, the total segments and the cost; rows that do not
    render are listed in ``errors`` instead."""
    worst: SmsInfo | None = None
    worst_row: int | None = None
    total = 0
    count = 0
    errors: list[dict[str, object]] = []
    for index, row in enumerate(rows):
        count += 1
        try:
            text = render_sms(template, row, link_url, sender_prefix) + suffix
        except TemplateError as exc:
            errors.append({"index": index, "code": exc.code, "field": exc.field})
            continue
        info = analyze_sms(text, char_cap)
        total += info.segments
        if worst is None or (info.segments, info.length) > (worst.segments, worst.length):
            worst, worst_row = info, index
    return TemplateEstimate(
        worst=worst,
        worst_row=worst_row,
        total_segments=total,
        cost_yen=estimate_cost_yen(total, price_per_segment_yen),
        rows=count,
        errors=errors,
    )
