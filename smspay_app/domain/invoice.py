"""Qualified invoices (適格請求書, the Japanese invoice system from 2023-10):
the issuer's registration number, and the tax per rate an invoice must state.

Registration number: ``T`` followed by 13 digits. For a company it is its
corporate number (法人番号), whose first digit is a check digit over the other
12; the National Tax Agency numbers sole proprietors in the same 13-digit
space without overlap, so the same check is applied to every number:

    check = 9 - (sum(P_n * Q_n for n in 1..12) mod 9)

where ``P_n`` is the n-th digit of the 12-digit base counted from the right
and ``Q_n`` is 1 for odd n, 2 for even n.

Tax: the lines are tax-included (税込) yen amounts, grouped by rate (10% and
the reduced 8%). The consumption tax is computed ONCE per invoice and per
rate, never per line (the invoice system allows one rounding per rate per
invoice), as ``floor(total_of_rate * rate / (100 + rate))``: fractions of a
yen are cut off (切り捨て), the rounding this issuer states."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

STANDARD_RATE = 10
REDUCED_RATE = 8
TAX_RATES = (STANDARD_RATE, REDUCED_RATE)
ROUNDING_RULE = "floor"  # 切り捨て, once per rate per invoice

_NUMBER = re.compile(r"^T(\d{13})$")


def normalise_registration_number(value: str | None) -> str:
    """NFKC (full-width to ASCII), upper case, spaces and hyphens dropped."""
    text = unicodedata.normalize("NFKC", value or "").strip().upper()
    return re.sub(r"[\s\-]", "", text)


def check_digit(base12: str) -> int:
    """The corporate number's check digit over its 12-digit base."""
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(base12), start=1))
    return 9 - total % 9


def valid_registration_number(value: str) -> bool:
    """``T`` + 13 digits whose first digit is the check digit of the rest."""
    m = _NUMBER.match(value)
    if not m:
        return False
    digits = m.group(1)
    return int(digits[0]) == check_digit(digits[1:])


@dataclass(frozen=True)
class Line:
    item: str
    quantity: int
    unit_price_yen: int  # tax included
    tax_rate: int = STANDARD_RATE

    @property
    def amount_yen(self) -> int:
        return self.quantity * self.unit_price_yen


@dataclass(frozen=True)
class RateTotal:
    rate: int
    total_yen: int  # tax included
    tax_yen: int

    @property
    def net_yen(self) -> int:
        return self.total_yen - self.tax_yen


@dataclass(frozen=True)
class InvoiceTotals:
    lines: tuple[Line, ...]
    per_rate: tuple[RateTotal, ...]  # 10% first, then 8%; rates with lines only

    @property
    def total_yen(self) -> int:
        return sum(r.total_yen for r in self.per_rate)

    @property
    def tax_yen(self) -> int:
        return sum(r.tax_yen for r in self.per_rate)


def tax_included(total_yen: int, rate: int) -> int:
    """The consumption tax inside a tax-included total, fractions cut off."""
    return (total_yen * rate) // (100 + rate)


def totals(lines: Iterable[Line]) -> InvoiceTotals:
    """Totals and tax per rate, one rounding per rate (see the module doc)."""
    lines = tuple(lines)
    for line in lines:
        if line.tax_rate not in TAX_RATES:
            raise ValueError(f"tax rate {line.tax_rate}% is not 10% or 8%")
    per_rate = []
    for rate in TAX_RATES:
        total = sum(line.amount_yen for line in lines if line.tax_rate == rate)
        if any(line.tax_rate == rate for line in lines):
            per_rate.append(RateTotal(rate, total, tax_included(total, rate)))
    return InvoiceTotals(lines, tuple(per_rate))
