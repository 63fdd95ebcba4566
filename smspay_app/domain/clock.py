"""Time in one place. The database stores naive UTC datetimes; ``utcnow`` is the
only clock services read, so tests can freeze it with ``frozen``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def utcnow() -> datetime:
    """Naive UTC now (what the database stores)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def frozen(at: datetime) -> Iterator["FrozenClock"]:
    """Freeze ``utcnow`` at ``at`` (naive UTC) for the block; ``tick`` moves it."""
    global _frozen
    previous = _frozen
    _frozen = at
    try:
        yield FrozenClock()
    finally:
        _frozen = previous


class FrozenClock:
    def tick(self, delta: timedelta) -> datetime:
        global _frozen
        assert _frozen is not None
        _frozen = _frozen + delta
        return _frozen

    def set(self, at: datetime) -> None:
        global _frozen
        _frozen = at
