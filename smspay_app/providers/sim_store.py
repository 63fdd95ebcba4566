"""One store for the built-in simulators' and sandboxes' state, shared by every
process of an installation (issue 17 item 2).

With ``REFLEX_REDIS_URL`` set, ``reflex run`` starts several Granian workers;
the Twilio and Karaden simulators and the Stripe- and KOMOJU-compatible
sandboxes (with the accounts added to them at run time) used to keep their
state in one worker's memory (an inbox empty on most loads, a
checkout "does not exist"). They now keep it here: a SQLite file in WAL mode
(``SimStore.for_installation``: ``SMSPAY_SIM_STORE``, or beside the SQLite
database, or one per database URL in the temporary directory). Why SQLite: it is in the standard
library, needs no server, every process on the machine sees one file, a write
costs tens of microseconds (WAL, ``synchronous=NORMAL``), and ``BEGIN
IMMEDIATE`` gives a cross-process lock for read-modify-write. The simulators
are a laptop / demo feature: one machine is their scope (several machines
point ``SMSPAY_TWILIO_API_BASE`` / ``SMSPAY_STRIPE_API_BASE`` at one of them).
``SimStore()`` without a path is private to the process (in memory): what
``create_app()`` in a test gets.

API (all a simulator needs; values are JSON documents, or anything a codec
turns into one)::

    store = SimStore(path)                      # or SimStore() / SimStore.for_installation()
    sessions = store.table("komoju.sessions")   # a MutableMapping[str, dict], insertion-ordered
    sessions["s1"] = {"id": "s1", "status": "open"}   # written at once
    sessions.get("s1"); "s1" in sessions; del sessions["s1"]; len(sessions)
    sessions.values(newest_first=True)          # also keys(), items(), clear()
    log = store.table("komoju.deliveries"); log.append({...})   # an ordered log
    msgs = store.table("x.messages", codec=Codec(encode, decode), tag=lambda m: m.to)
    msgs.values(tag="+8190...")                 # filtered on the indexed tag
    msgs.tag_counts()                           # {tag: count}
    store.add("x.requests")                     # shared counters; store.count("x.requests")
    with store.lock():                          # exclusive across processes (re-entrant);
        ...                                     # read-modify-write here
    with store.unit_of_work():                  # dicts read through tables are tracked:
        s = sessions["s1"]; s["status"] = "paid"   # ...written back at store.flush(), at
                                                # the end of lock() and of the block
    store.middleware(app)                       # ASGI: one unit of work per request
    store.drop("komoju.")                       # every table and counter of a prefix

Outside a unit of work a read returns a fresh copy: change it, then assign it
back. A value read inside ``lock()`` is current; a lock's end commits (even on
an exception, as an in-memory dict would have kept the change)."""

from __future__ import annotations

import contextvars
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

V = TypeVar("V")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS item (
    tbl TEXT NOT NULL, key TEXT NOT NULL, tag TEXT, value TEXT NOT NULL,
    PRIMARY KEY (tbl, key)
);
CREATE INDEX IF NOT EXISTS item_tag ON item (tbl, tag);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How a table's values become JSON-able documents and back."""

    encode: Callable[[V], Any]
    decode: Callable[[Any], V]


_IDENTITY: Codec[Any] = Codec(lambda v: v, lambda v: v)


class _Work:
    """The objects one unit of work read or wrote: (table, key) -> (value, its JSON)."""

    def __init__(self, store: SimStore) -> None:
        self.store = store
        self.seen: dict[tuple[str, str], tuple[Table[Any], Any, str]] = {}


_work: contextvars.ContextVar[dict[int, _Work] | None] = contextvars.ContextVar("sim_store_work", default=None)


class SimStore:
    """See the module docstring."""

    _installations: dict[str, SimStore] = {}
    _installations_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path) if path else ""
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._depth = 0  # lock() nesting (under _mutex, so per owning thread)

    # ------------------------------------------------------------------ opening

    @classmethod
    def for_installation(cls, settings: Any = None) -> SimStore:
        """The installation's shared store (one object per path per process)."""
        path = installation_path(settings)
        with cls._installations_lock:
            store = cls._installations.get(path)
            if store is None:
                store = cls._installations[path] = cls(path)
            return store

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own
            if self.path:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path or ":memory:", isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            if self.path:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._mutex:
            return self._connection().execute(sql, params)

    # ------------------------------------------------------------------ tables and counters

    def table(self, name: str, codec: Codec[V] | None = None, tag: Callable[[V], str | None] | None = None) -> Table[V]:
        return Table(self, name, codec or cast(Codec[V], _IDENTITY), tag)

    def add(self, name: str, n: int = 1) -> None:
        self._execute(
            "INSERT INTO counter (name, n) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET n = n + excluded.n",
            (name, n),
        )

    def count(self, name: str) -> int:
        row = self._execute("SELECT n FROM counter WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def data_version(self) -> int:
        """Changes whenever another connection (another process) committed to
        the store: cache what you read until it does (this process's own
        writes do not change it)."""
        return int(self._execute("PRAGMA data_version").fetchone()[0])

    def drop(self, prefix: str) -> None:
        """Every table and counter whose name starts with ``prefix``."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.lock():
            self._execute("DELETE FROM item WHERE tbl LIKE ? ESCAPE '\\'", (pattern,))
            self._execute("DELETE FROM counter WHERE name LIKE ? ESCAPE '\\'", (pattern,))
            work = self._current_work()
            if work is not None:
                work.seen = {k: v for k, v in work.seen.items() if not k[0].startswith(prefix)}

    # ------------------------------------------------------------------ lock, unit of work

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across every process and thread using this store (SQLite's
        write lock); re-entrant. Tracked objects are flushed before and after."""
        with self._mutex:
            outermost = self._depth == 0
            if outermost:
                self.flush()
                self._connection().execute("BEGIN IMMEDIATE")
                work = self._current_work()
                if work is not None:  # read again under the lock: another process may have changed them
                    work.seen.clear()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if outermost:
                    try:
                        self.flush()
                    finally:
                        self._connection().execute("COMMIT")

    def _current_work(self) -> _Work | None:
        works = _work.get()
        return works.get(id(self)) if works else None

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        works = dict(_work.get() or {})
        if id(self) in works:
            yield
            return
        works[id(self)] = _Work(self)
        token = _work.set(works)
        try:
            yield
        finally:
            try:
                self.flush()
            finally:
                _work.reset(token)

    def flush(self) -> None:
        """Write back what the current unit of work read and then changed."""
        work = self._current_work()
        if work is None:
            return
        for (name, key), (table, value, before) in list(work.seen.items()):
            after = table._dump(value)
            if after != before:
                table._write(key, value, after)
                work.seen[(name, key)] = (table, value, after)

    @property
    def mutex(self) -> StoreLock:
        """``lock()`` as a reusable object: ``with store.mutex:`` (a drop-in for a
        ``threading.RLock`` attribute)."""
        return StoreLock(self)

    def middleware(self, app: Any) -> Any:
        """ASGI: each HTTP request is one unit of work."""
        return UnitOfWorkMiddleware(app, store=self)


class StoreLock:
    """``with store.mutex:``, re-entrant, usable from any thread."""

    def __init__(self, store: SimStore) -> None:
        self.store = store
        self._local = threading.local()

    def __enter__(self) -> None:
        cm = self.store.lock()
        cm.__enter__()
        self._local.__dict__.setdefault("stack", []).append(cm)

    def __exit__(self, *exc: Any) -> None:
        self._local.stack.pop().__exit__(*exc)


class UnitOfWorkMiddleware:
    """ASGI middleware: each HTTP request of the wrapped app is one unit of work
    of ``store`` (``Starlette(middleware=[Middleware(UnitOfWorkMiddleware, store=s)])``)."""

    def __init__(self, app: Any, store: SimStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.store.unit_of_work():
            await self.app(scope, receive, send)


class Table(MutableMapping[str, V]):
    """One named collection of documents in a ``SimStore`` (see the module docstring)."""

    def __init__(self, store: SimStore, name: str, codec: Codec[V], tag: Callable[[V], str | None] | None) -> None:
        self.store, self.name, self.codec, self._tag = store, name, codec, tag

    def _dump(self, value: V) -> str:
        return json.dumps(self.codec.encode(value), ensure_ascii=False, separators=(",", ":"))

    def _write(self, key: str, value: V, text: str) -> None:
        self.store._execute(
            "INSERT INTO item (tbl, key, tag, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(tbl, key) DO UPDATE SET value = excluded.value, tag = excluded.tag",
            (self.name, key, self._tag(value) if self._tag else None, text),
        )

    def _track(self, key: str, text: str) -> V:
        work = self.store._current_work()
        if work is not None:
            seen = work.seen.get((self.name, key))
            if seen is not None:
                return cast(V, seen[1])
        value = self.codec.decode(json.loads(text))
        if work is not None:
            work.seen[(self.name, key)] = (self, value, text)
        return value

    def __getitem__(self, key: str) -> V:
        work = self.store._current_work()
        if work is not None and (self.name, key) in work.seen:
            return cast(V, work.seen[(self.name, key)][1])
        row = self.store._execute("SELECT value FROM item WHERE tbl = ? AND key = ?", (self.name, key)).fetchone()
        if row is None:
            raise KeyError(key)
        return self._track(key, row[0])

    def __setitem__(self, key: str, value: V) -> None:
        text = self._dump(value)
        self._write(key, value, text)
        work = self.store._current_work()
        if work is not None:
            work.seen[(self.name, key)] = (self, value, text)

    def __delitem__(self, key: str) -> None:
        cur = self.store._execute("DELETE FROM item WHERE tbl = ? AND key = ?", (self.name, key))
        work = self.store._current_work()
        if work is not None:
            work.seen.pop((self.name, key), None)
        if cur.rowcount == 0:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        row = self.store._execute("SELECT 1 FROM item WHERE tbl = ? AND key = ?", (self.name, key)).fetchone()
        return row is not None

    def __len__(self) -> int:
        return int(self.store._execute("SELECT count(*) FROM item WHERE tbl = ?", (self.name,)).fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def _rows(self, tag: str | None, newest_first: bool, columns: str) -> list[Any]:
        order = "DESC" if newest_first else "ASC"
        params: tuple[str, ...]
        if tag is None:
            sql, params = f"SELECT {columns} FROM item WHERE tbl = ? ORDER BY rowid {order}", (self.name,)
        else:
            sql = f"SELECT {columns} FROM item WHERE tbl = ? AND tag = ? ORDER BY rowid {order}"
            params = (self.name, tag)
        return self.store._execute(sql, params).fetchall()

    def keys(self, *, tag: str | None = None, newest_first: bool = False) -> list[str]:  # type: ignore[override]
        return [r[0] for r in self._rows(tag, newest_first, "key")]

    def values(self, *, tag: str | None = None, newest_first: bool = False) -> list[V]:  # type: ignore[override]
        return [self._track(k, text) for k, text in self._rows(tag, newest_first, "key, value")]

    def items(self, *, tag: str | None = None, newest_first: bool = False) -> list[tuple[str, V]]:  # type: ignore[override]
        return [(k, self._track(k, text)) for k, text in self._rows(tag, newest_first, "key, value")]

    def tag_counts(self) -> dict[str, int]:
        rows = self.store._execute("SELECT tag, count(*) FROM item WHERE tbl = ? GROUP BY tag", (self.name,))
        return {str(tag): int(n) for tag, n in rows.fetchall()}

    def clear(self) -> None:
        self.store._execute("DELETE FROM item WHERE tbl = ?", (self.name,))
        work = self.store._current_work()
        if work is not None:
            work.seen = {k: v for k, v in work.seen.items() if k[0] != self.name}

    def append(self, value: V) -> str:
        """Add at the end of an ordered log; returns its key."""
        with self.store.lock():
            key = str(len(self) + 1)
            while key in self:
                key = str(int(key) + 1)
            self[key] = value
        return key

    def __repr__(self) -> str:
        return f"<Table {self.name} ({len(self)})>"


def installation_path(settings: Any = None) -> str:
    """Where an installation's simulators keep their state: ``SMSPAY_SIM_STORE``,
    else beside the SQLite database (``<db>.simulators``), else (PostgreSQL) a
    file named after the database URL in the machine's temporary directory."""
    if settings is None:
        from smspay_app.settings import get_settings

        settings = get_settings()
    configured = str(getattr(settings, "sim_store", "") or "")
    if configured:
        return configured
    url = str(settings.database_url)
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return url.removeprefix("sqlite:///").split("?")[0] + ".simulators"
    # Another database (PostgreSQL): one file per database, on this machine.
    import hashlib
    import tempfile

    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / "smspay-simulators" / f"{digest}.sqlite3")
