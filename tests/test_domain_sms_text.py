"""Templates, merge fields, GSM-7/UCS-2 sizes and segment counts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspay_app.domain.sms_text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MERGE_FIELD_RE,
    TemplateError,
    analyze_sms,
    check_template,
    ensure_link_placeholder,
    estimate_cost_yen,
    estimate_template,
    example_link_url,
    render_sms,
    render_text,
    sender_prefix_for,
    template_fields,
)

LINK = "https://pay.example.jp/l/AbCdEfGhIjKlMnOpQrStUv"


def test_merge_field_regex_allows_spaces_and_japanese_names():
    assert [m.group(1) for m in MERGE_FIELD_RE.finditer("{{name}} {{ 氏名 }} {{  amount\t}}")] == [
        "name",
        "氏名",
        "amount",
    ]
    assert MERGE_FIELD_RE.search("{name}") is None
    assert MERGE_FIELD_RE.search("{{ }}") is None


def test_template_fields_in_order_distinct_without_link():
    assert template_fields("{{b}} {{a}} {{link}} {{ b }}") == ["b", "a"]
    assert template_fields("") == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("ご請求です", "ご請求です {{link}}"),
        ("一行目\n二行目", "一行目\n二行目\n{{link}}"),
        ("末尾に空白 ", "末尾に空白 {{link}}"),
        ("リンク {{ link }} はこちら", "リンク {{ link }} はこちら"),
        ("", "{{link}}"),
    ],
)
def test_ensure_link_placeholder(template, expected):
    assert ensure_link_placeholder(template) == expected


def test_render_sms_fills_fields_link_and_sender_prefix():
    text = render_sms("{{name}}様 {{ 金額 }}円のご請求です", {"name": "山田", "金額": "1,200"}, LINK, "【ABC商事】")
    assert text == f"【ABC商事】山田様 1,200円のご請求です {LINK}"
    # Prefix not repeated when the template already starts with it.
    again = render_sms("【ABC商事】お知らせ {{link}}", {}, LINK, "【ABC商事】")
    assert again == f"【ABC商事】お知らせ {LINK}"


def test_render_errors_name_the_field():
    with pytest.raises(TemplateError) as unknown:
        render_sms("{{name}} {{due}}", {"name": "A"}, LINK)
    assert unknown.value.code == "template.unknown_field" and unknown.value.field == "due"
    with pytest.raises(TemplateError) as missing:
        render_sms("{{name}}様", {"name": "  "}, LINK)
    assert missing.value.code == "template.missing_value" and missing.value.field == "name"


def test_values_are_not_expanded_again():
    assert render_text("{{a}}", {"a": "{{b}}", "b": "x"}) == "{{b}}"


def test_render_text_keeps_link_placeholder_out():
    assert render_text("{{name}}様へのお知らせ", {"name": "佐藤"}) == "佐藤様へのお知らせ"
    with pytest.raises(TemplateError):
        render_text("{{link}}", {})


def test_check_template_limits_and_unknown_fields():
    ten = " ".join(f"{{{{f{i}}}}}" for i in range(10))
    assert len(check_template(ten)) == 10
    with pytest.raises(TemplateError) as too_many:
        check_template(ten + " {{f10}}")
    assert too_many.value.code == "template.too_many_fields"
    with pytest.raises(TemplateError) as unbalanced:
        check_template("{{name} です")
    assert unbalanced.value.code == "template.unbalanced"
    with pytest.raises(TemplateError) as unknown:
        check_template("{{name}} {{x}}", known_fields=["name"])
    assert unknown.value.field == "x"


def test_sender_prefix():
    assert sender_prefix_for("ABC商事") == "【ABC商事】"
    assert sender_prefix_for("【ABC】") == "【ABC】"
    assert sender_prefix_for("  ") == ""


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension chars count double
        ("€" * 81, "GSM-7", 162, 2),
        ("あ" * 70, "UCS-2", 70, 1),
        ("あ" * 71, "UCS-2", 71, 2),
        ("あ" * 134, "UCS-2", 134, 2),
        ("あ" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # surrogate pairs count two units
    ],
)
def test_encoding_length_and_segments(text, encoding, length, segments):
    info = analyze_sms(text)
    assert (info.encoding, info.length, info.segments) == (encoding, length, segments)


def test_escape_pair_never_split_across_segments():
    # 152 plain + "€" (2 units) would straddle the 153 boundary: it moves on.
    info = analyze_sms("a" * 152 + "€" + "a" * 10)
    assert info.length == 164 and info.segments == 2
    assert analyze_sms("a" * 152 + "€" + "a" * 152).segments == 3


def test_ucs2_chars_named_in_order():
    info = analyze_sms("Hello “world” – ok “again”")
    assert info.encoding == "UCS-2"
    assert info.ucs2_chars == ["“", "”", "–"]


def test_carrier_cap():
    assert not analyze_sms("あ" * 660).over_cap
    assert analyze_sms("あ" * 661).over_cap
    assert not analyze_sms("あ" * 661, char_cap=1000).over_cap


def test_cost_estimate_rounds_up():
    assert estimate_cost_yen(3, 10) == 30
    assert estimate_cost_yen(3, 3.3) == 10
    assert estimate_cost_yen(0, 10) == 0


def test_estimate_template_worst_case_with_real_link_length():
    link = example_link_url("https://pay.example.jp")
    assert len(link) == len(LINK)
    rows = [{"name": "A"}, {"name": "山田" * 20}, {"name": ""}]
    est = estimate_template("{{name}}様 ご請求", rows, link, sender_prefix="【ABC】", price_per_segment_yen=10)
    assert est.worst_row == 1
    assert est.worst == analyze_sms(render_sms("{{name}}様 ご請求", rows[1], LINK, "【ABC】"))
    assert (
        est.total_segments
        == analyze_sms(render_sms("{{name}}様 ご請求", rows[0], LINK, "【ABC】")).segments + est.worst.segments
    )
    assert est.cost_yen == est.total_segments * 10
    assert est.errors == [{"index": 2, "code": "template.missing_value", "field": "name"}]


GSM_BASIC_TEXT = st.text(alphabet=sorted(GSM7_BASIC), max_size=700)
GSM_ANY_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700)
ANY_TEXT = st.text(max_size=500)


@given(GSM_BASIC_TEXT)
@settings(max_examples=200, deadline=None)
def test_plain_gsm_segments_match_the_formula(text):
    info = analyze_sms(text)
    assert info.encoding == "GSM-7" and info.length == len(text)
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert info.segments == expected


@given(st.text(alphabet="あいうえお漢字カナ", max_size=700))
@settings(max_examples=200, deadline=None)
def test_bmp_ucs2_segments_match_the_formula(text):
    info = analyze_sms(text)
    assert info.length == len(text)
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert info.segments == expected
    assert info.encoding == ("UCS-2" if text else "GSM-7")


@given(ANY_TEXT, st.characters())
@settings(max_examples=300, deadline=None)
def test_segments_monotone_when_appending(text, extra):
    """Adding a character never lowers the segment count (within one encoding;
    switching to UCS-2 only raises it)."""
    before, after = analyze_sms(text), analyze_sms(text + extra)
    assert after.segments >= before.segments
    assert after.length > before.length or (after.encoding != before.encoding)


@given(GSM_ANY_TEXT | ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_segments_fit_the_encoding_limits(text):
    info = analyze_sms(text)
    single, multi = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if info.segments == 1:
        assert info.length <= single
    else:
        assert info.length > single
        assert (info.segments - 1) * multi < info.length + info.segments  # no wasted segment
        assert info.length <= info.segments * multi
    assert info.encoding == "GSM-7" or info.ucs2_chars
    assert all(c not in GSM7_BASIC and c not in GSM7_EXTENSION for c in info.ucs2_chars)
    assert len(set(info.ucs2_chars)) == len(info.ucs2_chars)
