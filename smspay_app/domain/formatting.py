"""How amounts, times and phone numbers are shown to people: the one owner of
each format, used by the admin pages, the recipient pages, receipts, exports
and the payment sandbox alike (a test checks every surface agrees).

- ``yen(4980)`` -> ``¥4,980`` (yen has no decimals).
- ``local_time(at, "Asia/Tokyo")`` -> ``2026-12-01 09:30`` in the organisation's
  time zone (the database stores naive UTC); ``seconds=True`` adds ``:SS``.
- ``people_date(d, "ja")`` -> ``2026年12月10日``, ``people_date(d, "en")`` ->
  ``10 Dec 2026``: dates on recipient pages, receipts and SMS; a datetime
  (naive UTC) is first put in the organisation's ``timezone``;
  ``people_datetime`` adds the time (``2026年12月10日 23:59`` /
  ``10 Dec 2026 23:59``).
- ``phone(e164)`` -> Japanese numbers as people read them (``090-1234-5678``),
  others in E.164."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from smspay_app.domain.phone import display_phone

DEFAULT_TIMEZONE = "Asia/Tokyo"
YEN_SIGN = "¥"


def yen(amount: int) -> str:
    """An amount of yen as shown to people: ``¥4,980``."""
    return f"{YEN_SIGN}{int(amount):,}"


def local_time(at: datetime | None, timezone: str | None, *, seconds: bool = False) -> str:
    """Naive UTC ``at`` in ``timezone`` (Japan when empty); '' for None."""
    if at is None:
        return ""
    local = at.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _local(at: datetime, timezone: str | None) -> datetime:
    return at.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE))


def people_date(at: date | datetime | None, lang: str, timezone: str | None = None) -> str:
    """A date as people read it: ``2026年12月10日`` (ja) or ``10 Dec 2026``
    (en); a naive-UTC datetime is the date in ``timezone`` (Japan when
    empty); '' for None."""
    if at is None:
        return ""
    d = _local(at, timezone).date() if isinstance(at, datetime) else at
    if lang == "en":
        return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
    return f"{d.year}年{d.month}月{d.day}日"


def people_datetime(at: datetime | None, lang: str, timezone: str | None = None) -> str:
    """``people_date`` with the local time: ``2026年12月10日 23:59`` /
    ``10 Dec 2026 23:59``."""
    if at is None:
        return ""
    return f"{people_date(at, lang, timezone)} {_local(at, timezone).strftime('%H:%M')}"


def phone(e164: str) -> str:
    """Japanese numbers in national format, any other number in E.164."""
    return display_phone(e164) if e164.startswith("+81") else e164
