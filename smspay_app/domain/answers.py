"""Identity answers: normalise what a recipient types (and what the business
uploaded) to one canonical form, then keep only a keyed hash of it.

Kinds:
- ``date``: any common Japanese or ISO form, including the Japanese era
  (``昭和55年1月2日``, ``S55.1.2``, ``平成元年...``, ``R1.5.1``) -> ``YYYY-MM-DD``.
- ``digits``: digits only (membership numbers, postcodes, last 4 digits);
  spaces, hyphens, brackets and dots dropped, leading zeros kept.
- ``text`` and ``secret``: NFKC (full-width to half-width), case folded,
  spaces and hyphens removed. ``secret`` only differs in the UI (masked input).

``parse_date`` is the one date parser of the project (the CSV import uses it).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

from smspay_app.domain.security import keyed_hash

ANSWER_KINDS = ("date", "digits", "text", "secret")

# Hyphen and dash look-alikes NFKC leaves as they are (the katakana long sound
# mark "ー" is a letter in names, so it is kept for text answers).
_DASHES = r"\-‐‑‒–—―−ｰ"
_SPACE_DASH_RE = re.compile(rf"[\s{_DASHES}]+")
_DIGIT_SEPARATORS_RE = re.compile(rf"[\s{_DASHES}ー.,/()\[\]()（）〒#]+")

# Era: (start year - 1) so that year = offset + era year.
ERAS: dict[str, tuple[int, date]] = {
    "M": (1867, date(1868, 1, 25)),
    "T": (1911, date(1912, 7, 30)),
    "S": (1925, date(1926, 12, 25)),
    "H": (1988, date(1989, 1, 8)),
    "R": (2018, date(2019, 5, 1)),
}
_ERA_NAMES = {
    "明治": "M",
    "明": "M",
    "M": "M",
    "大正": "T",
    "大": "T",
    "T": "T",
    "昭和": "S",
    "昭": "S",
    "S": "S",
    "平成": "H",
    "平": "H",
    "H": "H",
    "令和": "R",
    "令": "R",
    "R": "R",
}
_ERA_ALT = "|".join(sorted(_ERA_NAMES, key=len, reverse=True))
_ERA_RE = re.compile(rf"^({_ERA_ALT})\s*(元|\d{{1,2}})\s*[./\-年]\s*(\d{{1,2}})\s*[./\-月]\s*(\d{{1,2}})\s*日?$")
_ERA_COMPACT_RE = re.compile(rf"^({_ERA_ALT})(\d{{2}})(\d{{2}})(\d{{2}})$")  # S550102
_YMD_RE = re.compile(r"^(\d{4})\s*[./\-年]\s*(\d{1,2})\s*[./\-月]\s*(\d{1,2})\s*日?$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_TAIL_RE = re.compile(r"[T\s]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_WEEKDAY_TAIL_RE = re.compile(r"\s*[(（][月火水木金土日][)）]\s*$")


def parse_date(raw: str) -> date | None:
    """A calendar date from the forms people write, or None.

    ``1980/1/2``, ``1980-01-02``, ``1980.1.2``, ``19800102``, ``1980年1月2日``,
    ``昭和55年1月2日``, ``S55.1.2``, ``s55/1/2``, ``昭55.1.2``, ``平成元年1月8日``,
    ``H2.3.4``, ``R1.5.1``, ``㍼55年1月2日``, full-width digits, an ISO time
    tail (``1980-01-02 00:00:00``) or a weekday (``(水)``). Two-digit years
    without an era are ambiguous and refused. Era years are not checked
    against the era's end (``平成32年`` is read as 2020), so the same text
    always gives the same date.
    """
    if not raw:
        return None
    return _parse_date(raw)


@lru_cache(maxsize=65536)
def _parse_date(raw: str) -> date | None:
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    if not text:
        return None
    if text.endswith((")", "）")):
        text = _WEEKDAY_TAIL_RE.sub("", text)
    if ":" in text:
        text = _TIME_TAIL_RE.sub("", text)
    if not text.isascii():
        for ch in "−‐‑‒–—―ｰ":
            text = text.replace(ch, "-")

    m = _YMD_RE.match(text) or _COMPACT_RE.match(text)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _ERA_RE.match(text) or _ERA_COMPACT_RE.match(text)
    if m:
        era = _ERA_NAMES[m.group(1)]
        era_year = 1 if m.group(2) == "元" else int(m.group(2))
        if era_year < 1:
            return None
        return _make(ERAS[era][0] + era_year, int(m.group(3)), int(m.group(4)))
    return None


def _make(year: int, month: int, day: int) -> date | None:
    if not 1800 <= year <= 2200:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def era_of(d: date) -> tuple[str, int]:
    """The era letter and era year of ``d`` (``date(1980,1,2)`` -> ``("S", 55)``)."""
    for letter in ("R", "H", "S", "T", "M"):
        offset, start = ERAS[letter]
        if d >= start:
            return letter, d.year - offset
    raise ValueError("date before the Meiji era")


def normalize_answer(raw: str | None, kind: str) -> str | None:
    """The canonical form of an answer, or None when it is empty or cannot be
    read as ``kind`` (dates -> ``YYYY-MM-DD``)."""
    if raw is None:
        return None
    if kind == "date":
        d = parse_date(raw)
        return d.isoformat() if d else None
    text = unicodedata.normalize("NFKC", str(raw))
    if kind == "digits":
        digits = _DIGIT_SEPARATORS_RE.sub("", text)
        return digits if digits and digits.isascii() and digits.isdigit() else None
    if kind in ("text", "secret"):
        value = _SPACE_DASH_RE.sub("", text).casefold()
        value = unicodedata.normalize("NFKC", value)
        return value or None
    raise ValueError(f"unknown answer kind: {kind}")


def hash_answer(secret_key: str, recipient_id: int, question_id: int, normalized: str) -> str:
    """Keyed hash of a normalised answer, bound to the recipient and question."""
    return keyed_hash(secret_key, "answer", str(recipient_id), str(question_id), normalized)


def answer_matches(
    secret_key: str, recipient_id: int, question_id: int, kind: str, raw: str, expected_hash: str
) -> bool:
    """Whether ``raw`` (as typed) matches the stored hash, in constant time."""
    import hmac

    normalized = normalize_answer(raw, kind)
    if normalized is None:
        return False
    return hmac.compare_digest(hash_answer(secret_key, recipient_id, question_id, normalized), expected_hash)
