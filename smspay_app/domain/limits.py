"""Sliding-window limits: at most ``limit`` events per key in the last
``window`` seconds.

One class for every limit, ``SlidingWindowLimiter``:

- the recipient pages' POSTs per client address (``web/recipient.py``, shared),
- the REST API's requests per key and minute (``web/api.py``, shared),
- the recipient pages' visit de-duplication (``services/journey.py``, shared),
- the sign-in password checks per second (``services/auth.py``, this process's
  CPU budget: local on purpose).

A limiter made with ``shared="name"`` must hold across processes (issue 17:
with two app processes of five workers each, every in-memory limit was
multiplied by ten). Its events live in one ``LimitStore`` picked at first use
(``shared_store``), like Reflex's state manager picks memory or Redis:

- ``MemoryStore``: this process (one process: the laptop, the tests),
- ``DatabaseStore``: the ``sharedlimitkey`` / ``sharedlimithit`` tables (every
  process on one database; a row lock per key makes count-and-add atomic on
  PostgreSQL and SQLite alike),
- ``RedisStore``: one sorted set per key, counted and added by one Lua script.

``SMSPAY_LIMITS_BACKEND`` chooses (``auto``: Redis when ``SMSPAY_REDIS_URL`` or
``REFLEX_REDIS_URL`` is set, i.e. when Reflex runs several workers; memory
otherwise). Shared stores keep a keyed hash of the key, never the address.
A limiter without ``shared`` always keeps its events in its own memory.

An event stays in the window while its age is below ``window``. A refused
``hit`` is not counted, so a client that keeps knocking is let in again as soon
as its oldest counted event leaves the window. The clock is injected (seconds
as a float; ``time.monotonic`` for a local limiter, ``time.time`` for a shared
one, which other processes must agree on), so tests move time by hand.
Memory stays bounded: past ``max_keys`` keys, keys with nothing left in the
window are forgotten, and if that is not enough, everything is."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger("smspay.limits")

LOG_EVERY_SECONDS = 10.0  # a limiter's refusals are logged at most this often

_LIMITERS: weakref.WeakSet[SlidingWindowLimiter[Any]] = weakref.WeakSet()


class LimitStore(Protocol):
    """Where a limiter's events are kept. ``name`` is the limiter's, ``key``
    the client's (already a string)."""

    local: bool

    def hit(self, name: str, key: str, cap: int, window: float, now: float, *, force: bool = False) -> float | None:
        """Count one event if fewer than ``cap`` are in the window (always when
        ``force``) and return None; else count nothing and return the seconds
        until the oldest event leaves the window."""
        ...

    def count(self, name: str, key: str, window: float, now: float) -> int: ...

    def clear(self, name: str | None = None) -> None: ...


class MemoryStore:
    """Events in this process's memory, thread-safe."""

    local = True

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def clear(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._hits.clear()
            else:
                for k in [k for k in self._hits if k[0] == name]:
                    del self._hits[k]

    def _recent(self, key: tuple[str, str], window: float, now: float) -> deque[float]:
        """The key's events still in the window (older ones dropped). Caller holds the lock."""
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and now - hits[0] >= window:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def hit(self, name: str, key: str, cap: int, window: float, now: float, *, force: bool = False) -> float | None:
        k = (name, key)
        with self._lock:
            hits = self._recent(k, window, now)
            if not force and len(hits) >= cap:
                return hits[0] + window - now
            hits.append(now)
            self._hits[k] = hits
            if len(self._hits) > self.max_keys:
                for old in [o for o, v in self._hits.items() if not v or now - v[-1] >= window]:
                    del self._hits[old]
                if len(self._hits) > self.max_keys:
                    self._hits.clear()
            return None

    def count(self, name: str, key: str, window: float, now: float) -> int:
        with self._lock:
            return len(self._recent((name, key), window, now))


def _hashed(secret: str, name: str, key: str) -> str:
    return hmac.new(secret.encode(), f"{name}\x00{key}".encode(), hashlib.sha256).hexdigest()[:40]


class DatabaseStore:
    """Events in the database every process shares. ``hit`` is one transaction:
    upsert the key's lock row (a row lock on PostgreSQL, the write lock on
    SQLite, held to the commit), drop the key's old events, count, add. Old
    rows of other keys are swept now and then (about one hit in 200)."""

    local = False

    def __init__(self, engine: Callable[[], Any], secret: str) -> None:
        self._engine = engine  # called each time: tests switch databases
        self._secret = secret

    def _tables(self) -> tuple[Any, Any]:
        from sqlmodel import SQLModel

        import smspay_app.models.limits  # noqa: F401  (registers the tables)

        tables = SQLModel.metadata.tables
        return tables["sharedlimitkey"], tables["sharedlimithit"]

    def hit(self, name: str, key: str, cap: int, window: float, now: float, *, force: bool = False) -> float | None:
        from sqlalchemy import delete, func, select

        keys, hits = self._tables()
        hashed = _hashed(self._secret, name, key)
        engine = self._engine()
        upsert: Any
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            upsert = pg_insert(keys).values(key=hashed, name=name, at=now)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            upsert = sqlite_insert(keys).values(key=hashed, name=name, at=now)
        with engine.begin() as conn:
            conn.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={"at": now}))
            conn.execute(delete(hits).where(hits.c.key == hashed, hits.c.at <= now - window))
            count, oldest = conn.execute(select(func.count(), func.min(hits.c.at)).where(hits.c.key == hashed)).one()
            if not force and count >= cap:
                return float(oldest) + window - now
            conn.execute(hits.insert().values(key=hashed, name=name, at=now))
            if random.random() < 0.005:
                conn.execute(delete(hits).where(hits.c.name == name, hits.c.at <= now - window))
                conn.execute(delete(keys).where(keys.c.name == name, keys.c.at <= now - window))
        return None

    def count(self, name: str, key: str, window: float, now: float) -> int:
        from sqlalchemy import func, select

        _, hits = self._tables()
        hashed = _hashed(self._secret, name, key)
        with self._engine().connect() as conn:
            return int(
                conn.execute(select(func.count()).where(hits.c.key == hashed, hits.c.at > now - window)).scalar_one()
            )

    def clear(self, name: str | None = None) -> None:
        """Each test has its own database: nothing to empty here (the autouse
        fixture runs before a test's settings exist). ``clear(name)`` empties one."""
        if name is None:
            return
        from sqlalchemy import delete

        keys, hits = self._tables()
        with self._engine().begin() as conn:
            conn.execute(delete(hits).where(hits.c.name == name))
            conn.execute(delete(keys).where(keys.c.name == name))


# Count-and-add in one step: KEYS[1] the sorted set; ARGV: now, window, cap,
# force, a unique member. Returns -1 when counted, else the seconds to wait.
_REDIS_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if ARGV[4] == '0' and n >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return '-1'
"""


class RedisStore:
    """Events in Redis: one sorted set per key (scores are the times), expiring
    with the window."""

    local = False
    prefix = "smspay:limit:"

    def __init__(self, url: str, secret: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._client.register_script(_REDIS_HIT)
        self._secret = secret

    def _key(self, name: str, key: str) -> str:
        return f"{self.prefix}{name}:{_hashed(self._secret, name, key)}"

    def hit(self, name: str, key: str, cap: int, window: float, now: float, *, force: bool = False) -> float | None:
        member = f"{now:.6f}:{os.getpid()}:{random.getrandbits(48)}"
        answer = self._script(keys=[self._key(name, key)], args=[now, window, cap, int(force), member])
        wait = float(answer.decode() if isinstance(answer, bytes) else answer)
        return None if wait < 0 else wait

    def count(self, name: str, key: str, window: float, now: float) -> int:
        found: Any = self._client.zcount(self._key(name, key), f"({now - window}", "+inf")
        return int(found)

    def clear(self, name: str | None = None) -> None:
        pattern = f"{self.prefix}{name + ':' if name else ''}*"
        for k in self._client.scan_iter(match=pattern, count=500):
            self._client.delete(k)


_store: LimitStore | None = None
_store_lock = threading.Lock()


def redis_url() -> str:
    """The Redis the deployment names: ``SMSPAY_REDIS_URL``, else Reflex's
    ``REFLEX_REDIS_URL`` (empty: none)."""
    from smspay_app.settings import get_settings

    return get_settings().redis_url or os.environ.get("REFLEX_REDIS_URL", "")


def make_store(backend: str) -> LimitStore:
    """The store for ``backend`` (``auto``, ``memory``, ``database``, ``redis``)."""
    from smspay_app.settings import get_settings

    settings = get_settings()
    if backend == "auto":
        backend = "redis" if redis_url() else "memory"
    if backend == "redis":
        url = redis_url()
        if not url:
            raise RuntimeError("SMSPAY_LIMITS_BACKEND=redis needs SMSPAY_REDIS_URL (or REFLEX_REDIS_URL)")
        return RedisStore(url, settings.secret_key)
    if backend == "database":
        from smspay_app.db import get_engine

        return DatabaseStore(get_engine, settings.secret_key)
    return MemoryStore()


def shared_store() -> LimitStore:
    """The store every shared limiter of this process uses, picked from the
    settings at first use."""
    global _store
    with _store_lock:
        if _store is None:
            from smspay_app.settings import get_settings

            _store = make_store(get_settings().limits_backend)
        return _store


def use_store(store: LimitStore | None) -> None:
    """Use ``store`` for every shared limiter (None: pick again from the settings)."""
    global _store
    with _store_lock:
        _store = store


def clear_all_limiters() -> None:
    """Empty every limiter of this process (the test suite does it before each test:
    a limiter is process state, and one test's hits must not count against the next).
    The shared store is forgotten, so the next test's settings pick it again; a
    Redis store is emptied first (it outlives the test)."""
    global _store
    for limiter in list(_LIMITERS):
        limiter.clear_local()
    with _store_lock:
        store, _store = _store, None
    if store is not None and not store.local:
        try:
            store.clear(None)
        except Exception:  # noqa: BLE001 - a Redis gone away has nothing to empty
            log.warning("limits: could not empty the shared store", exc_info=True)


class SlidingWindowLimiter(Generic[K]):
    """Events per key in a sliding window. ``shared``: the limiter's name in
    the shared store (events held across processes); without it, in memory."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        shared: str | None = None,
        clock: Callable[[], float] | None = None,
        max_keys: int = 100_000,
        log_refusals: bool = True,
    ) -> None:
        self.limit = limit
        self.window = window
        self.name = shared or f"local-{id(self)}"
        self.shared = shared is not None
        self._clock = clock or (time.time if self.shared else time.monotonic)
        self._own = MemoryStore(max_keys)
        self.log_refusals = log_refusals
        self._log_lock = threading.Lock()
        self._logged_at: float | None = None
        self._unlogged = 0
        _LIMITERS.add(self)

    @property
    def store(self) -> LimitStore:
        return shared_store() if self.shared else self._own

    @property
    def local(self) -> bool:
        """Whether checking costs no I/O (callers on an event loop go to a
        thread otherwise)."""
        return self.store.local

    def clear_local(self) -> None:
        self._own.clear()
        if self.shared and _store is not None and _store.local:
            _store.clear(self.name)

    def clear(self) -> None:
        """Forget every key's events (a test starts from an empty window)."""
        self._own.clear()
        if self.shared:
            self.store.clear(self.name)

    def hit(self, key: K, *, limit: int | None = None) -> float | None:
        """Count one event for ``key`` if it is under the limit (``limit``
        overrides the limiter's, at least 1) and return None; otherwise count
        nothing and return the seconds until the oldest event leaves the window."""
        cap = max(1, self.limit if limit is None else limit)
        wait = self.store.hit(self.name, str(key), cap, self.window, self._clock())
        if wait is not None and self.log_refusals:
            self._log_refusal(cap, wait)
        return wait

    def _log_refusal(self, cap: int, wait: float) -> None:
        """One line per limiter and ``LOG_EVERY_SECONDS`` at most, with how many
        refusals it stands for (a flood of 370 refusals is one line, not 370)."""
        now = time.monotonic()
        with self._log_lock:
            self._unlogged += 1
            if self._logged_at is not None and now - self._logged_at < LOG_EVERY_SECONDS:
                return
            count, self._unlogged, self._logged_at = self._unlogged, 0, now
        log.warning(
            "limit reached: %s (limit %d per %gs), next in %.1fs; %d refused since the last line",
            self.name,
            cap,
            self.window,
            wait,
            count,
        )

    def allow(self, key: K, *, limit: int | None = None) -> bool:
        """``hit``, as a yes or no."""
        return self.hit(key, limit=limit) is None

    def blocked(self, key: K) -> bool:
        """Whether ``key`` is at its limit now (counts nothing)."""
        return self.count(key) >= max(1, self.limit)

    def record(self, key: K) -> None:
        """Count one event for ``key`` whatever the limit (a failure to remember)."""
        self.store.hit(self.name, str(key), 1, self.window, self._clock(), force=True)

    def count(self, key: K) -> int:
        """Events for ``key`` in the window now."""
        return self.store.count(self.name, str(key), self.window, self._clock())

    def reset(self) -> None:
        """Forget every key (tests; a restart does the same)."""
        self.clear()
