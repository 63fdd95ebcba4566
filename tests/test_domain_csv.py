"""Reading recipient files: encodings, delimiters, quoting, mapping, values."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspay_app.domain.csv_import import CsvError, parse_amount_yen, read_csv, suggest_mapping

ROWS = [["電話番号", "氏名", "金額"], ["090-1234-5678", "山田 太郎", "1,200"], ["080-1111-2222", "髙橋 一", "500"]]


def _encode(rows, encoding="utf-8", delimiter=","):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp932", "cp932"), ("shift_jis", "cp932"), ("utf-16", "utf-16")],
)
def test_encodings_detected(encoding, detected):
    rows = ROWS if encoding != "shift_jis" else [[c.replace("髙", "高") for c in r] for r in ROWS]
    parsed = read_csv(_encode(rows, encoding))
    assert parsed.encoding == detected
    assert parsed.headers == ["電話番号", "氏名", "金額"]
    assert parsed.rows == rows[1:]


def test_tab_separated_and_quoted_newlines_and_row_numbers():
    data = '電話番号\t備考\n"090-1234-5678"\t"一行目\n二行目"\n\n080-1111-2222\tx\n'.encode()
    parsed = read_csv(data)
    assert parsed.delimiter == "\t"
    assert parsed.rows == [["090-1234-5678", "一行目\n二行目"], ["080-1111-2222", "x"]]
    # Records are numbered as a spreadsheet shows them (header = 1), blank lines skipped.
    assert parsed.row_numbers == [2, 4]


def test_headers_cleaned_and_deduplicated():
    parsed = read_csv(" 電話番号 ,,金額,金額\n1,2,3,4\n".encode())
    assert parsed.headers == ["電話番号", "column2", "金額", "金額_2"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "csv.empty"),
        (b"\r\n \r\n", "csv.empty"),
        (b"PK\x03\x04\x14\x00\x06\x00", "csv.not_csv"),  # xlsx
        (b"%PDF-1.7\n", "csv.not_csv"),
        (b"a,b\n\x00\x00\x00", "csv.not_csv"),
        ("電話番号\n".encode() + b"\x81", "csv.encoding"),  # broken multibyte
    ],
)
def test_whole_file_errors(data, code):
    with pytest.raises(CsvError) as err:
        read_csv(data)
    assert err.value.code == code


def test_size_and_row_limits():
    with pytest.raises(CsvError) as err:
        read_csv(b"a,b\n" + b"1,2\n" * 100, max_bytes=100)
    assert err.value.code == "csv.too_large"
    with pytest.raises(CsvError) as err:
        read_csv(b"a,b\n" + b"1,2\n" * 11, max_rows=10)
    assert err.value.code == "csv.too_many_rows" and err.value.params == {"max_rows": 10}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["顧客番号", "氏名", "携帯番号", "請求金額", "支払期限", "生年月日", "郵便番号"],
            {
                "phone": "携帯番号",
                "name": "氏名",
                "amount": "請求金額",
                "due_date": "支払期限",
                "customer_number": "顧客番号",
                "birth_date": "生年月日",
                "postcode": "郵便番号",
            },
        ),
        (
            ["Phone Number", "Full Name", "Amount", "Due Date", "Customer ID", "Date of Birth", "ZIP"],
            {
                "phone": "Phone Number",
                "name": "Full Name",
                "amount": "Amount",
                "due_date": "Due Date",
                "customer_number": "Customer ID",
                "birth_date": "Date of Birth",
                "postcode": "ZIP",
            },
        ),
        (
            ["名前", "電話番号（ハイフンなし）", "金額(税込)"],
            {"phone": "電話番号（ハイフンなし）", "name": "名前", "amount": "金額(税込)"},
        ),
        (["ＴＥＬ", "お名前"], {"phone": "ＴＥＬ", "name": "お名前"}),
        (["メモ", "備考"], {}),
    ],
)
def test_suggest_mapping(headers, expected):
    assert suggest_mapping(headers) == expected


def test_suggest_mapping_uses_each_header_once_and_prefers_exact():
    mapping = suggest_mapping(["携帯電話番号", "電話番号"])
    assert mapping == {"phone": "携帯電話番号"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1200", 1200),
        ("1,200", 1200),
        ("¥1,200", 1200),
        ("￥1,200", 1200),
        ("１，２００円", 1200),
        ("1200.0", 1200),
        ("1,200 円（税込）", 1200),
        ("0", 0),
        ("", None),
        ("-100", None),
        ("12.5", None),
        ("abc", None),
        ("1.200.000", None),
    ],
)
def test_parse_amount_yen(raw, expected):
    assert parse_amount_yen(raw) == expected


@given(st.integers(min_value=0, max_value=10**9), st.booleans(), st.booleans(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_amount_any_formatting_round_trips(value, commas, yen, wide):
    text = f"{value:,}" if commas else str(value)
    if yen:
        text = "¥" + text + "円"
    if wide:
        text = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "," else c for c in text)
    assert parse_amount_yen(text) == value


CELL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(["\n", ",", "\t", '"']), max_size=12
)


@given(
    st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=20),
    st.sampled_from([",", "\t"]),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
@settings(max_examples=150, deadline=None)
def test_any_written_csv_reads_back(rows, delimiter, encoding):
    header = ["電話番号", "氏名", "メモ"]
    data = _encode([header] + rows, encoding, delimiter)
    parsed = read_csv(data)
    assert parsed.headers == header
    expected = [r for r in rows if "".join(r).strip()]
    assert parsed.rows == expected
