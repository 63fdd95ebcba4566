"""Quiet hours: no SMS at night in the organisation's time zone.

A window ``start``-``end`` (``"21:00"``-``"08:00"``) in local time; it may wrap
past midnight. Equal start and end (or either missing) means no quiet hours.
Messages are held until the window closes, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class QuietWindow(Protocol):
    """Anything with a quiet-hours window (an organisation, a campaign)."""

    @property
    def quiet_hours_start(self) -> str | None: ...

    @property
    def quiet_hours_end(self) -> str | None: ...


def parse_hhmm(value: str | None) -> time | None:
    if not value:
        return None
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def quiet_until(now_utc: datetime, tz: str, start: str | None, end: str | None) -> datetime | None:
    """None when ``now_utc`` (naive UTC) is outside quiet hours; otherwise the
    naive UTC instant at which sending may start again."""
    t_start, t_end = parse_hhmm(start), parse_hhmm(end)
    if t_start is None or t_end is None or t_start == t_end:
        return None
    zone = ZoneInfo(tz)
    local = now_utc.replace(tzinfo=UTC).astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if t_start < t_end:
        quiet = t_start <= clock < t_end
        end_day = local.date()
    else:  # wraps midnight
        quiet = clock >= t_start or clock < t_end
        end_day = local.date() + timedelta(days=1) if clock >= t_start else local.date()
    if not quiet:
        return None
    opens = datetime.combine(end_day, t_end, tzinfo=zone)
    return opens.astimezone(UTC).replace(tzinfo=None)


def effective_window(organisation: QuietWindow, campaign: QuietWindow | None) -> tuple[str | None, str | None]:
    """The campaign's override when it sets one, else the organisation's."""
    if campaign is not None and campaign.quiet_hours_start and campaign.quiet_hours_end:
        return campaign.quiet_hours_start, campaign.quiet_hours_end
    return organisation.quiet_hours_start, organisation.quiet_hours_end


def next_quiet_start(now_utc: datetime, tz: str, start: str | None, end: str | None) -> datetime | None:
    """The next naive UTC instant at which quiet hours begin (None: no quiet
    hours). A provider that takes a "send no later than" time (Karaden's
    ``limited_at``) gets this, so a message stuck in its queue never reaches a
    phone inside quiet hours."""
    t_start, t_end = parse_hhmm(start), parse_hhmm(end)
    if t_start is None or t_end is None or t_start == t_end:
        return None
    zone = ZoneInfo(tz)
    local = now_utc.replace(tzinfo=UTC).astimezone(zone)
    begins = datetime.combine(local.date(), t_start, tzinfo=zone)
    if begins <= local:
        begins = datetime.combine(local.date() + timedelta(days=1), t_start, tzinfo=zone)
    return begins.astimezone(UTC).replace(tzinfo=None)
