"""Phone number normalisation: unit cases and properties."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspay_app.domain.phone import _fast_jp, _slow, clean_phone, mask_phone, normalize_phone

E164 = "+819012345678"


@pytest.mark.parametrize(
    "raw",
    [
        "090-1234-5678",
        "09012345678",
        "０９０－１２３４－５６７８",
        "０９０ー１２３４ー５６７８",  # katakana long mark used as a hyphen
        "+81 90 1234 5678",
        "+81-90-1234-5678",
        "+81 (0)90-1234-5678",
        "819012345678",
        "(090) 1234 5678",
        "090.1234.5678",
        " 090 1234 5678 ",
        "tel:090-1234-5678",
        "090−1234−5678",  # minus sign
        "＋８１９０１２３４５６７８",
    ],
)
def test_mobile_formats_normalise_to_e164(raw):
    assert normalize_phone(raw) == (normalize_phone(raw).__class__(E164, None))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "phone.empty"),
        ("  ", "phone.empty"),
        ("03-1234-5678", "phone.landline"),
        ("06-6123-4567", "phone.landline"),
        ("0120-123-456", "phone.free_dial"),
        ("0800-123-4567", "phone.free_dial"),
        ("050-1234-5678", "phone.not_mobile"),  # IP phone
        ("0570-01-2345", "phone.not_mobile"),  # navi dial
        ("090-1234-567", "phone.too_short"),  # one digit short
        ("090-1234-56789", "phone.too_long"),
        ("090-0123-4567", "phone.invalid"),  # 0900... is not allocated
        ("090123", "phone.too_short"),
        ("0901234567890123456", "phone.too_long"),
        ("090123456789", "phone.too_long"),
        ("090-ABCD-5678", "phone.invalid"),
        ("+1 415 555 2671", "phone.foreign_not_allowed"),
        ("+44 7911 123456", "phone.foreign_not_allowed"),
    ],
)
def test_numbers_that_cannot_receive_sms_are_rejected_with_reason(raw, error):
    result = normalize_phone(raw)
    assert result.e164 is None and result.error == error


def test_foreign_numbers_only_when_allowed():
    assert normalize_phone("+44 7911 123456", allow_foreign=True).e164 == "+447911123456"
    assert normalize_phone("+1 415 555 2671", allow_foreign=True).e164 == "+14155552671"
    # A foreign landline is still a landline.
    assert normalize_phone("+44 20 7946 0958", allow_foreign=True).error == "phone.landline"


def test_other_default_region():
    assert normalize_phone("07911 123456", region="GB").e164 == "+447911123456"
    assert normalize_phone("+81 90 1234 5678", region="GB").error == "phone.foreign_not_allowed"
    assert normalize_phone("+81 90 1234 5678", region="GB", allow_foreign=True).e164 == E164


def test_clean_and_mask():
    assert clean_phone("０９０－１２３４－５６７８") == "09012345678"
    assert mask_phone("+819012345678") == "+81901234****"


MOBILE_PREFIX = st.sampled_from(["070", "080", "090"])
SUBSCRIBER = st.integers(min_value=10_000_000, max_value=99_999_999).map(str)
SEPARATOR = st.sampled_from(["", "-", " ", "－", "ー", "−", "  ", "."])


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


@given(MOBILE_PREFIX, SUBSCRIBER, SEPARATOR, st.booleans(), st.sampled_from(["national", "plus", "bare", "brackets"]))
@settings(max_examples=300, deadline=None)
def test_any_formatting_of_a_mobile_number_gives_the_same_e164(prefix, sub, sep, wide, style):
    expected = "+81" + prefix[1:] + sub
    body = sep.join([sub[:4], sub[4:]])
    if style == "national":
        raw = f"{prefix}{sep}{body}"
    elif style == "plus":
        raw = f"+81{sep}{prefix[1:]}{sep}{body}"
    elif style == "bare":
        raw = f"81{prefix[1:]}{body}"
    else:
        raw = f"({prefix}){sep}{body}"
    if wide:
        raw = _fullwidth(raw)
    assert normalize_phone(raw) == normalize_phone(expected)
    assert normalize_phone(raw).e164 == expected


@given(st.text(alphabet="0123456789", min_size=9, max_size=13))
@settings(max_examples=400, deadline=None)
def test_fast_path_agrees_with_phonenumbers(digits):
    """The Japanese mobile fast path never answers differently from the full
    phonenumbers check."""
    fast = _fast_jp(digits)
    slow = _slow(digits, "JP", False)
    if fast is not None:
        assert slow.e164 == fast
    if slow.e164 is not None:
        number = phonenumbers.parse(slow.e164)
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_never_raises_and_result_is_valid_mobile_or_error(raw):
    result = normalize_phone(raw)
    assert (result.e164 is None) != (result.error is None)
    if result.e164:
        assert result.e164.startswith("+81")
