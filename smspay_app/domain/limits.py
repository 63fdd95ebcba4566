"""Sliding-window limits: at most ``limit`` events per key in the last
``window`` seconds.

One class for every in-memory limit (kept per process):

- the recipient pages' POSTs per client address (``web/recipient.py``),
- the REST API's requests per key and minute (``web/api.py``),
- wrong passwords per e-mail address at sign-in (``services/auth.py``).

An event stays in the window while its age is below ``window``. A refused
``hit`` is not counted, so a client that keeps knocking is let in again as soon
as its oldest counted event leaves the window. The clock is injected (seconds
as a float, ``time.monotonic`` unless told), so tests move time by hand.
Memory stays bounded: past ``max_keys`` keys, keys with nothing left in the
window are forgotten, and if that is not enough, everything is."""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


_LIMITERS: weakref.WeakSet[SlidingWindowLimiter[Any]] = weakref.WeakSet()


def clear_all_limiters() -> None:
    """Empty every limiter of this process (the test suite does it before each test:
    a limiter is process state, and one test's hits must not count against the next)."""
    for limiter in list(_LIMITERS):
        limiter.clear()


class SlidingWindowLimiter(Generic[K]):
    """Events per key in a sliding window, thread-safe."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._hits: dict[K, deque[float]] = {}
        self._lock = threading.Lock()
        _LIMITERS.add(self)

    def clear(self) -> None:
        """Forget every key's events (a test starts from an empty window)."""
        with self._lock:
            self._hits.clear()

    def _recent(self, key: K, now: float) -> deque[float]:
        """The key's events still in the window (older ones dropped). Caller holds the lock."""
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def _count(self, key: K, hits: deque[float], now: float) -> None:
        hits.append(now)
        self._hits[key] = hits
        if len(self._hits) > self.max_keys:
            for k in [k for k, v in self._hits.items() if not v or now - v[-1] >= self.window]:
                del self._hits[k]
            if len(self._hits) > self.max_keys:
                self._hits.clear()

    def hit(self, key: K, *, limit: int | None = None) -> float | None:
        """Count one event for ``key`` if it is under the limit (``limit``
        overrides the limiter's, at least 1) and return None; otherwise count
        nothing and return the seconds until the oldest event leaves the window."""
        cap = max(1, self.limit if limit is None else limit)
        now = self._clock()
        with self._lock:
            hits = self._recent(key, now)
            if len(hits) >= cap:
                return hits[0] + self.window - now
            self._count(key, hits, now)
            return None

    def allow(self, key: K, *, limit: int | None = None) -> bool:
        """``hit``, as a yes or no."""
        return self.hit(key, limit=limit) is None

    def blocked(self, key: K) -> bool:
        """Whether ``key`` is at its limit now (counts nothing)."""
        now = self._clock()
        with self._lock:
            return len(self._recent(key, now)) >= max(1, self.limit)

    def record(self, key: K) -> None:
        """Count one event for ``key`` whatever the limit (a failure to remember)."""
        now = self._clock()
        with self._lock:
            self._count(key, self._recent(key, now), now)

    def count(self, key: K) -> int:
        """Events for ``key`` in the window now."""
        now = self._clock()
        with self._lock:
            return len(self._recent(key, now))

    def reset(self) -> None:
        """Forget every key (tests; a restart does the same)."""
        with self._lock:
            self._hits.clear()
