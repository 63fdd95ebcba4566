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
  others in E.164.
- Date and time fields typed into the console (issue 15: a browser's native
  date picker follows the browser's locale, not the page's language, so a
  Japanese operator on an English browser saw mm/dd/yyyy and 12-hour times):
  plain text fields in Japanese order, 24-hour, in both languages.
  ``input_datetime(at, tz)`` -> ``2026/12/10 18:00`` (what a field shows),
  ``parse_input_datetime`` reads it back (also ``2026-12-10T18:00``,
  ``2026年12月10日 18時00分``, full-width digits), ``input_date`` /
  ``parse_input_date`` for dates, ``parse_input_time`` for ``HH:MM``.
  ``DATETIME_INPUT_HINT`` is the format the field names beside it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from smspay_app.domain.answers import parse_date
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


_HOUR = timedelta(hours=1)


def local_time_formatter(timezone: str | None) -> Callable[[datetime | str | None], str]:
    """``local_time(at, timezone, seconds=True)`` for many values (an export's
    every timestamp): the zone's offset is looked up once per UTC hour and
    reused for every time in that hour; an hour with a change of offset in it
    (checked at both its ends) is converted value by value, so the result is
    the full conversion's in every zone (half-hour offsets, odd historical
    ones, daylight saving).

    A value may also be the text SQLite stores a naive UTC datetime as
    (``2030-04-01 09:30:00.000000``, read without parsing it): in an hour
    whose offset is whole hours, only the hour's text changes, so the local
    text is the hour's (cached) and the minutes and seconds as stored."""
    tz = ZoneInfo(timezone or DEFAULT_TIMEZONE)
    offsets: dict[int, timedelta | None] = {}  # UTC hour (hours since year 1) -> its one offset
    local_hours: dict[str, str | None] = {}  # stored UTC hour text -> local hour text (whole-hour offsets)

    def offset_of(at: datetime) -> timedelta:
        return at.replace(tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)

    def hour_offset(at: datetime) -> timedelta | None:
        hour = at.toordinal() * 24 + at.hour  # (datetime.replace costs 10x this)
        if hour in offsets:
            return offsets[hour]
        start = at.replace(minute=0, second=0, microsecond=0)
        first, last = offset_of(start), offset_of(start + _HOUR - timedelta(microseconds=1))
        offset = offsets[hour] = first if first == last else None
        return offset

    def local_hour(utc_hour: str) -> str | None:
        start = datetime.fromisoformat(utc_hour + ":00:00")
        offset = hour_offset(start)
        if offset is None or offset % _HOUR:
            return None
        return (start + offset).isoformat(" ", "seconds")[:13]

    def format_local(at: datetime | str | None) -> str:
        if at is None:
            return ""
        if isinstance(at, str):
            key = at[:13]
            prefix = local_hours[key] if key in local_hours else local_hours.setdefault(key, local_hour(key))
            if prefix is not None and len(at) >= 19 and at[13] == ":" and at[16] == ":":
                return prefix + at[13:19]
            at = datetime.fromisoformat(at)
        offset = hour_offset(at)
        if offset is None:
            offset = offset_of(at)
        return (at + offset).isoformat(" ", "seconds")

    return format_local


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


def people_month(year: int, month: int, lang: str) -> str:
    """A calendar month: ``2026年12月`` (ja) or ``Dec 2026`` (en)."""
    if lang == "en":
        return f"{_MONTHS[month - 1]} {year}"
    return f"{year}年{month}月"


_JP_MOBILE = re.compile(r"\+81([789]0)([1-9]\d{3})(\d{4})")


def phone(e164: str) -> str:
    """Japanese numbers in national format, any other number in E.164. A
    mobile number (070/080/090, always 3-4-4) without parsing it with
    phonenumbers, which cost more than the rest of an export row (issue 16)."""
    mobile = _JP_MOBILE.fullmatch(e164)
    if mobile:
        return f"0{mobile[1]}-{mobile[2]}-{mobile[3]}"
    return display_phone(e164) if e164.startswith("+81") else e164


DATE_INPUT_FORMAT = "%Y/%m/%d"
DATETIME_INPUT_FORMAT = "%Y/%m/%d %H:%M"
# The placeholder every date/time field shows (the same order in ja and en;
# the field's help names the parts in the UI language).
DATE_INPUT_HINT = "2026/12/10"
DATETIME_INPUT_HINT = "2026/12/10 18:00"
TIME_INPUT_HINT = "21:00"

_TIME_RE = re.compile(r"^(\d{1,2})\s*[:時]\s*(\d{2})?\s*分?$")
_DATETIME_RE = re.compile(r"^(.+?)(?:T|\s)\s*(\d{1,2}\s*[:時].*)$")


def input_date(d: date | None) -> str:
    """A date as a console field shows it: ``2026/12/10``; '' for None."""
    return d.strftime(DATE_INPUT_FORMAT) if d is not None else ""


def input_datetime(at: datetime | None, timezone: str | None) -> str:
    """Naive UTC ``at`` as a console field shows it, in ``timezone``:
    ``2026/12/10 18:00`` (24-hour); '' for None."""
    if at is None:
        return ""
    return _local(at, timezone).strftime(DATETIME_INPUT_FORMAT)


def parse_input_date(text: str | None) -> date | None:
    """A date typed into a console field (``2026/12/10``, ``2026-12-10``,
    ``2026年12月10日``, ``令和8年12月10日``...), or None."""
    return parse_date((text or "").strip())


def parse_input_time(text: str | None) -> str | None:
    """A 24-hour time typed into a field as ``HH:MM`` (``9:00`` -> ``09:00``,
    ``２１：００`` and ``21時`` too), or None when it is not one."""
    m = _TIME_RE.match(unicodedata.normalize("NFKC", text or "").strip())
    if not m:
        return None
    hours, minutes = int(m.group(1)), int(m.group(2) or 0)
    if hours > 23 or minutes > 59:
        return None
    return f"{hours:02d}:{minutes:02d}"


def parse_input_datetime(text: str | None) -> datetime | None:
    """A local date and time typed into a console field, naive (the caller
    puts it in the organisation's zone), or None: ``2026/12/10 18:00``,
    ``2026-12-10T18:00`` (what a native field or an older page sent),
    ``2026年12月10日 18時00分``, full-width digits. A time is required."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    m = _DATETIME_RE.match(value)
    if not m:
        return None
    day, clock = parse_input_date(m.group(1)), parse_input_time(m.group(2))
    if day is None or clock is None:
        return None
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes)


def local_input_to_utc(text: str | None, timezone: str | None) -> datetime | None:
    """``parse_input_datetime`` in ``timezone`` (Japan when empty), as the
    naive UTC the database stores; None when the text is not a date and time."""
    local = parse_input_datetime(text)
    if local is None:
        return None
    return local.replace(tzinfo=ZoneInfo(timezone or DEFAULT_TIMEZONE)).astimezone(UTC).replace(tzinfo=None)
