"""Every error code the authoring logic can produce has Japanese and English text."""

from __future__ import annotations

import pytest

from smspay_app.i18n import CATALOG, t
from smspay_app.i18n.authoring import MESSAGES

CODES_WITH_PARAMS = {
    "template.unknown_field": {"field": "氏名"},
    "template.missing_value": {"field": "氏名"},
    "answer.missing": {"column": "生年月日"},
    "answer.invalid_date": {"column": "生年月日"},
    "answer.invalid_digits": {"column": "会員番号"},
    "answer.invalid": {"column": "合言葉"},
    "csv.too_large": {"max_mb": 20},
    "csv.too_many_rows": {"max_rows": 200000},
    "csv.unknown_column": {"column": "tel"},
    "import.duplicate_in_file": {"first_row": 2},
    "import.missing_value": {"field": "氏名"},
    "import.summary": {"imported": 1, "rejected": 2, "duplicates": 3, "opted_out": 4},
    "import.failed": {"reason": "x"},
    "template.ucs2_chars": {"chars": "あ"},
    "template.size": {"chars": 1, "segments": 1},
    "template.over_cap": {"cap": 660},
    "template.cost": {"segments": 1, "price": 10, "cost": 10},
}

PRODUCED = [
    "phone.empty",
    "phone.invalid",
    "phone.too_short",
    "phone.too_long",
    "phone.landline",
    "phone.free_dial",
    "phone.not_mobile",
    "phone.foreign_not_allowed",
    "template.unknown_field",
    "template.missing_value",
    "template.too_many_fields",
    "template.unbalanced",
    "csv.not_csv",
    "csv.empty",
    "csv.too_large",
    "csv.too_many_rows",
    "csv.no_phone_column",
    "csv.encoding",
    "csv.unknown_column",
    "answer.missing",
    "answer.invalid_date",
    "answer.invalid_digits",
    "answer.invalid",
    "import.duplicate_in_file",
    "import.duplicate_in_campaign",
    "import.opted_out",
    "import.invalid_amount",
    "import.invalid_date",
    "import.missing_value",
    "import.summary",
    "import.rule",
    "import.failed",
]


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_and_prefix(key):
    assert key.split(".")[0] in {"phone", "template", "answer", "csv", "import"}
    assert set(MESSAGES[key]) == {"ja", "en"}
    params = CODES_WITH_PARAMS.get(key, {})
    for lang in ("ja", "en"):
        text = t(key, lang, **params) if params else t(key, lang)
        assert text
        for name in params:
            assert "{" + name + "}" not in text


@pytest.mark.parametrize("key", PRODUCED)
def test_every_produced_code_is_in_the_catalogue(key):
    assert key in CATALOG
