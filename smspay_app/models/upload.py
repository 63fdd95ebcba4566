"""An uploaded recipient file waiting between the mapping step and the import,
kept in the database when several app processes run (``services.uploads``,
issue 17): the upload and the import's websocket may reach different
processes. Found by the token's hash and the organisation; deleted after the
import, and purged after ``upload_max_age_hours`` (it holds personal data)."""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from smspay_app.domain.clock import utcnow


class PendingUpload(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: NaiveDatetime = Field(default_factory=utcnow, index=True)
