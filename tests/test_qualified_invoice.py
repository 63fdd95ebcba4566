"""Qualified invoices (issue 15, 適格請求書): the registration number (T + 13
digits with the corporate number's check digit) and the tax per rate, one
rounding (cut off) per rate per invoice."""

from __future__ import annotations

import pytest

from smspay_app.domain import invoice
from smspay_app.domain.invoice import Line


@pytest.mark.parametrize(
    "value, ok",
    [
        ("T7010705000725", True),  # the corporate number 7010705000725
        ("T8010001008846", False),  # one digit off: the check digit catches it
        ("T701070500072", False),  # 12 digits
        ("70107050007250", False),  # no T
        ("T70107050007X5", False),
        ("", False),
    ],
)
def test_registration_number(value, ok):
    assert invoice.valid_registration_number(value) is ok


def test_registration_number_normalised_from_what_people_type():
    assert invoice.normalise_registration_number("ｔ７０１０-７０５０-００７２５ ") == "T7010705000725"
    assert invoice.check_digit("010705000725") == 7


def test_tax_per_rate_one_rounding_per_rate():
    lines = [
        Line("会費", 1, 3_300, 10),
        Line("教材", 3, 1_099, 10),  # 3,297
        Line("お弁当", 2, 648, 8),  # 1,296
        Line("お茶", 1, 151, 8),
    ]
    totals = invoice.totals(lines)
    ten, eight = totals.per_rate
    assert (ten.rate, ten.total_yen, ten.tax_yen) == (10, 6_597, 599)  # 6597*10/110 = 599.7 -> 599
    assert (eight.rate, eight.total_yen, eight.tax_yen) == (8, 1_447, 107)  # 1447*8/108 = 107.2 -> 107
    # Per line it would have been 300 + 299 (=599) and 96 + 11 (=107) here, but
    # per-line rounding can differ: 3 x 1,099 per unit is 99.9 -> 99 each = 297, not 299.
    assert sum(invoice.tax_included(1_099, 10) for _ in range(3)) == 297
    assert totals.total_yen == 8_044 and totals.tax_yen == 706
    assert ten.net_yen == 5_998 and eight.net_yen == 1_340


def test_only_ten_and_eight_percent():
    with pytest.raises(ValueError):
        invoice.totals([Line("x", 1, 100, 5)])
    assert [r.rate for r in invoice.totals([Line("x", 1, 108, 8)]).per_rate] == [8]
