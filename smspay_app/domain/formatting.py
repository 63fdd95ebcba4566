"""How amounts, times and phone numbers are shown to people: the one owner of
each format, used by the admin pages, the recipient pages, receipts, exports
and the payment sandbox alike (a test checks every surface agrees).

- ``yen(4980)`` -> ``¥4,980`` (yen has no decimals).
- ``local_time(at, "Asia/Tokyo")`` -> ``2026-12-01 09:30`` in the organisation's
  time zone (the database stores naive UTC); ``seconds=True`` adds ``:SS``.
- ``phone(e164)`` -> Japanese numbers as people read them (``090-1234-5678``),
  others in E.164."""

from __future__ import annotations

from datetime import UTC, datetime
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


def phone(e164: str) -> str:
    """Japanese numbers in national format, any other number in E.164."""
    return display_phone(e164) if e164.startswith("+81") else e164
