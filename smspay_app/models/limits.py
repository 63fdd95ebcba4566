"""The events of the limits that hold across processes (``domain.limits.
DatabaseStore``, issue 17): one row per counted event, and one row per key
that ``hit`` upserts first, so that counting and adding is atomic (a row
lock on PostgreSQL, the write lock on SQLite). Keys are keyed hashes (never a
client address); times are seconds since the epoch. Old rows are swept as new
ones come."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class SharedLimitKey(SQLModel, table=True):
    key: str = Field(primary_key=True, max_length=40)
    name: str = Field(index=True, max_length=40)
    at: float


class SharedLimitHit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, max_length=40)
    name: str = Field(index=True, max_length=40)
    at: float = Field(index=True)
