"""Phone numbers: whatever a spreadsheet holds (``090-1234-5678``, full-width
``０９０－１２３４－５６７８``, ``+81 90 1234 5678``, ``819012345678``, spaces,
brackets) to E.164, keeping only numbers that can receive an SMS.

Errors are i18n keys (``smspay_app.i18n.authoring``): ``phone.empty``,
``phone.invalid``, ``phone.too_short``, ``phone.too_long``, ``phone.landline``,
``phone.free_dial``, ``phone.not_mobile`` (IP phone, pager, shared-cost,
premium-rate...) and ``phone.foreign_not_allowed``.

Japanese mobile numbers (the bulk of any import) take a fast path checked
against the same phonenumbers metadata; everything else goes through
phonenumbers in full.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, ValidationResult

# Separators people type or spreadsheets produce, including dash look-alikes
# that NFKC leaves alone (minus sign, katakana long sound mark, dashes).
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ーｰ~〜～.,/()\[\]{}（）［］｛｝「」【】]")
_CLEAN_OK = re.compile(r"\+?\d+")

SMS_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,  # regions (US...) that cannot tell them apart
}
_TYPE_ERRORS = {
    PhoneNumberType.FIXED_LINE: "phone.landline",
    PhoneNumberType.TOLL_FREE: "phone.free_dial",
}


@dataclass(frozen=True)
class PhoneResult:
    e164: str | None
    error: str | None  # i18n key, None when e164 is set

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def clean_phone(raw: str) -> str:
    """NFKC (full-width to half-width), drop ``tel:`` and separators. The result
    may still hold letters; ``normalize_phone`` rejects those."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    return _SEPARATORS.sub("", text)


def _jp_mobile_pattern() -> re.Pattern[str]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region("JP")
    mobile = meta.mobile if meta is not None else None
    if mobile is None or mobile.national_number_pattern is None:
        raise RuntimeError("phonenumbers has no Japanese mobile pattern")
    return re.compile(f"(?:{mobile.national_number_pattern})")


_JP_MOBILE = _jp_mobile_pattern()
_JP_MOBILE_START = re.compile(r"[6-9]0")


def _fast_jp(cleaned: str) -> str | None:
    """E.164 for an obvious Japanese mobile number, else None (slow path)."""
    if cleaned.startswith("+81"):
        national = cleaned[3:]
        if national.startswith("0"):
            national = national[1:]
    elif cleaned.startswith("0") and not cleaned.startswith("00"):
        national = cleaned[1:]
    elif cleaned.startswith("81") and len(cleaned) == 12:
        national = cleaned[2:]
    else:
        return None
    if len(national) == 10 and _JP_MOBILE.fullmatch(national):
        return "+81" + national
    return None


def normalize_phone(raw: str, region: str = "JP", allow_foreign: bool = False) -> PhoneResult:
    """E.164 for ``raw`` read with ``region`` as default, or the reason it cannot
    receive an SMS. Numbers of another country only when ``allow_foreign``."""
    cleaned = clean_phone(raw)
    if not cleaned:
        return PhoneResult(None, "phone.empty")
    region = (region or "JP").upper()
    if region == "JP":
        fast = _fast_jp(cleaned)
        if fast is not None:
            return PhoneResult(fast, None)
    return _slow(cleaned, region, allow_foreign)


@lru_cache(maxsize=4096)
def _slow(cleaned: str, region: str, allow_foreign: bool) -> PhoneResult:
    if not _CLEAN_OK.fullmatch(cleaned):
        return PhoneResult(None, "phone.invalid")
    try:
        number = _parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.TOO_LONG:
            return PhoneResult(None, "phone.too_long")
        if exc.error_type in (
            phonenumbers.NumberParseException.TOO_SHORT_NSN,
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD,
        ):
            return PhoneResult(None, "phone.too_short")
        return PhoneResult(None, "phone.invalid")
    if not phonenumbers.is_valid_number(number):
        nsn = phonenumbers.national_significant_number(number)
        if number.country_code == 81 and _JP_MOBILE_START.match(nsn):
            # Looks like a Japanese mobile number (070/080/090...): 11 digits.
            if len(nsn) < 10:
                return PhoneResult(None, "phone.too_short")
            if len(nsn) > 10:
                return PhoneResult(None, "phone.too_long")
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == ValidationResult.TOO_SHORT:
            return PhoneResult(None, "phone.too_short")
        if reason == ValidationResult.TOO_LONG:
            return PhoneResult(None, "phone.too_long")
        return PhoneResult(None, "phone.invalid")
    home_code = phonenumbers.country_code_for_region(region)
    if number.country_code != home_code and not allow_foreign:
        return PhoneResult(None, "phone.foreign_not_allowed")
    kind = phonenumbers.number_type(number)
    if kind not in SMS_TYPES:
        return PhoneResult(None, _TYPE_ERRORS.get(kind, "phone.not_mobile"))
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)


def _parse(cleaned: str, region: str) -> phonenumbers.PhoneNumber:
    """Parse with the default region; digits typed with a country code but no
    plus sign (``819012345678``) are read as international. Raises
    ``NumberParseException``."""
    error: phonenumbers.NumberParseException | None = None
    number = None
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        error = exc
    if (number is None or not phonenumbers.is_valid_number(number)) and not cleaned.startswith(("+", "0")):
        try:
            alt = phonenumbers.parse("+" + cleaned, None)
        except phonenumbers.NumberParseException:
            alt = None
        if alt is not None and phonenumbers.is_valid_number(alt):
            return alt
    if number is None:
        assert error is not None
        raise error
    return number


def display_phone(e164: str) -> str:
    """National format for the region of the number (``090-1234-5678``)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask_phone(e164: str) -> str:
    """``+81901234****``-style masking for places that must not show the number."""
    if len(e164) <= 4:
        return "*" * len(e164)
    return e164[:-4] + "****"
