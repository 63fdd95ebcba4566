"""Identity answer normalisation, era dates and keyed hashes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspay_app.domain.answers import (
    answer_matches,
    era_of,
    hash_answer,
    normalize_answer,
    parse_date,
)
from smspay_app.domain.csv_import import parse_date as csv_parse_date


@pytest.mark.parametrize(
    "raw",
    [
        "1980/1/2",
        "1980-01-02",
        "1980.1.2",
        "19800102",
        "1980年1月2日",
        "1980年 01月 02日",
        "昭和55年1月2日",
        "昭和５５年１月２日",
        "S55.1.2",
        "s55/1/2",
        "S55-01-02",
        "S550102",
        "昭55.1.2",
        "㍼55年1月2日",
        "１９８０／０１／０２",
        "1980-01-02 00:00:00",
        "1980-01-02T00:00:00",
        "1980/1/2(水)",
        " 1980/1/2 ",
    ],
)
def test_date_forms(raw):
    assert parse_date(raw) == date(1980, 1, 2)
    assert normalize_answer(raw, "date") == "1980-01-02"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("H2.3.4", date(1990, 3, 4)),
        ("平成2年3月4日", date(1990, 3, 4)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("H元.1.8", date(1989, 1, 8)),
        ("R1.5.1", date(2019, 5, 1)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("㋿7年6月1日", date(2025, 6, 1)),
        ("T15.12.24", date(1926, 12, 24)),
        ("大正3年4月5日", date(1914, 4, 5)),
        ("M45.7.29", date(1912, 7, 29)),
        ("明治40年1月1日", date(1907, 1, 1)),
    ],
)
def test_era_dates(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "80/1/2", "1980/13/1", "1980/2/30", "S0.1.1", "X55.1.2", "昨日", "1980", "平成元年"]
)
def test_unreadable_dates(raw):
    assert parse_date(raw) is None
    assert normalize_answer(raw, "date") is None


def test_csv_import_shares_the_date_parser():
    assert csv_parse_date is parse_date


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("１２３－４５６７", "digits", "1234567"),
        ("〒123-4567", "digits", "1234567"),
        (" 0012 ", "digits", "0012"),
        ("12 34 56", "digits", "123456"),
        ("12a", "digits", None),
        ("", "digits", None),
        ("ヤマダ　タロウ", "text", "ヤマダタロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "text", "ヤマダタロウ"),  # half-width kana -> full-width
        ("Yamada-Taro", "text", "yamadataro"),
        ("ＹＡＭＡＤＡ　ｔａｒｏ", "text", "yamadataro"),
        ("ラーメン", "text", "ラーメン"),  # the long sound mark is a letter here
        ("  ", "text", None),
        ("ＡＢＣ－１２３", "secret", "abc123"),
        ("Straße", "text", "strasse"),
    ],
)
def test_normalize_answer(raw, kind, expected):
    assert normalize_answer(raw, kind) == expected


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        normalize_answer("x", "colour")


def test_hash_is_keyed_and_bound_to_recipient_and_question():
    h = hash_answer("k1", 1, 2, "1980-01-02")
    assert len(h) == 64 and "1980" not in h
    assert h == hash_answer("k1", 1, 2, "1980-01-02")
    assert h != hash_answer("k2", 1, 2, "1980-01-02")
    assert h != hash_answer("k1", 3, 2, "1980-01-02")
    assert h != hash_answer("k1", 1, 4, "1980-01-02")


def test_answer_matches_whatever_form_is_typed():
    stored = hash_answer("k", 7, 9, normalize_answer("1980/1/2", "date"))
    for typed in ["昭和55年1月2日", "S55.1.2", "19800102", "１９８０年１月２日"]:
        assert answer_matches("k", 7, 9, "date", typed, stored)
    assert not answer_matches("k", 7, 9, "date", "1980/1/3", stored)
    assert not answer_matches("k", 7, 9, "date", "not a date", stored)


# --- properties -------------------------------------------------------------

DATES = st.dates(min_value=date(1868, 1, 25), max_value=date(2100, 12, 31))
ERA_KANJI = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
ERA_SHORT = {"M": "明", "T": "大", "S": "昭", "H": "平", "R": "令"}


def _wide(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c in "./-" else c for c in text)


def _era_forms(d: date) -> list[str]:
    letter, year = era_of(d)
    y_kanji = "元" if year == 1 else str(year)
    return [
        f"{ERA_KANJI[letter]}{y_kanji}年{d.month}月{d.day}日",
        f"{ERA_KANJI[letter]}{year}年{d.month:02d}月{d.day:02d}日",
        f"{letter}{year}.{d.month}.{d.day}",
        f"{letter.lower()}{year}/{d.month}/{d.day}",
        f"{ERA_SHORT[letter]}{year}.{d.month}.{d.day}",
        f"{letter}{year}-{d.month:02d}-{d.day:02d}",
    ]


def _western_forms(d: date) -> list[str]:
    return [
        f"{d.year}/{d.month}/{d.day}",
        d.isoformat(),
        f"{d.year}{d.month:02d}{d.day:02d}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.year}.{d.month}.{d.day}",
    ]


@given(DATES, st.booleans())
@settings(max_examples=300, deadline=None)
def test_every_era_and_western_form_round_trips(d, wide):
    for form in _era_forms(d) + _western_forms(d):
        text = _wide(form) if wide else form
        assert normalize_answer(text, "date") == d.isoformat(), text


@given(st.text(alphabet="0123456789０１２３４５６７８９-－ ー　", max_size=20))
@settings(max_examples=300, deadline=None)
def test_digits_normalisation_is_idempotent_and_width_blind(raw):
    value = normalize_answer(raw, "digits")
    if value is not None:
        assert value.isdigit() and value.isascii()
        assert normalize_answer(value, "digits") == value
        assert normalize_answer(_wide(value), "digits") == value


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_text_normalisation_is_idempotent(raw):
    value = normalize_answer(raw, "text")
    if value is not None:
        assert normalize_answer(value, "text") == value
        assert " " not in value and "-" not in value


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_parse_date_never_raises(raw):
    result = parse_date(raw)
    assert result is None or isinstance(result, date)
