"""Uploaded recipient files between the mapping step and the import.

The file is written to the upload directory under a random name bound to the
organisation (``<org id>-<token>.csv``); the browser's state holds only the
token. Reading it back needs the same organisation, so a token from another
organisation finds nothing. Files are deleted after the import and any left
behind are purged after ``upload_max_age_hours`` (at each upload and by the
hourly retention job, in the app or the worker); they hold personal data.

With several app processes (issue 17) the upload and the import's websocket
may reach different processes: ``settings.uploads_in_database`` keeps the file
in the ``pendingupload`` table instead (only the token's hash stored), or
``upload_dir`` names a folder they all share (``settings.require_shared_storage``
refuses to start otherwise). A token that finds nothing logs one line."""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from smspay_app.domain.csv_import import CANONICAL_FIELDS, DEFAULT_MAX_BYTES, CsvError, read_csv, suggest_mapping
from smspay_app.settings import DATA_DIR, get_settings

log = logging.getLogger("smspay.uploads")

PREVIEW_ROWS = 5
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def upload_dir() -> Path:
    configured = get_settings().upload_dir
    path = Path(configured) if configured else DATA_DIR / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(organisation_id: int, token: str) -> Path | None:
    if not _TOKEN_RE.match(token or ""):
        return None
    return upload_dir() / f"{int(organisation_id)}-{token}.csv"


class UploadTooLarge(CsvError):
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__("csv.too_large", max_mb=max(1, max_bytes // (1024 * 1024)))


def _in_database() -> bool:
    return get_settings().uploads_in_database


def _store_row(organisation_id: int, data: bytes) -> str:
    from smspay_app.db import session_scope
    from smspay_app.domain.security import hash_token
    from smspay_app.models import PendingUpload

    token = secrets.token_urlsafe(24)
    with session_scope() as session:
        session.add(PendingUpload(organisation_id=int(organisation_id), token_hash=hash_token(token), data=data))
    return token


def _row_where(organisation_id: int, token: str):
    from smspay_app.domain.security import hash_token
    from smspay_app.models import PendingUpload

    return (PendingUpload.token_hash == hash_token(token), PendingUpload.organisation_id == int(organisation_id))


async def store_upload_stream(organisation_id: int, reader, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Write an async ``reader`` (``await reader.read(n)``) to the upload
    directory (or the database) in chunks, stopping with ``UploadTooLarge``
    past ``max_bytes`` (nothing kept). Returns the token."""
    import asyncio

    await asyncio.to_thread(purge_stale_uploads)
    if _in_database():
        buffer = bytearray()
        while True:
            chunk = await reader.read(1024 * 1024)
            if not chunk:
                break
            buffer += chunk
            if len(buffer) > max_bytes:
                raise UploadTooLarge(max_bytes)
        return await asyncio.to_thread(_store_row, organisation_id, bytes(buffer))
    token = secrets.token_urlsafe(24)
    path = _path(organisation_id, token)
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = await reader.read(1024 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return token


def store_upload(organisation_id: int, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    if len(data) > max_bytes:
        raise UploadTooLarge(max_bytes)
    purge_stale_uploads()
    if _in_database():
        return _store_row(organisation_id, data)
    token = secrets.token_urlsafe(24)
    path = _path(organisation_id, token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return token


def load_upload(organisation_id: int, token: str) -> bytes | None:
    """The upload's bytes; None (and one log line) when the token finds nothing."""
    if not _TOKEN_RE.match(token or ""):
        return None
    if _in_database():
        from sqlmodel import Session, select

        from smspay_app.db import get_engine
        from smspay_app.models import PendingUpload

        with Session(get_engine()) as session:
            data = session.exec(select(PendingUpload.data).where(*_row_where(organisation_id, token))).first()
        where = "in the database"
    else:
        path = _path(organisation_id, token)
        data = path.read_bytes() if path is not None and path.exists() else None
        where = f"in {upload_dir()}"
    if data is None:
        log.warning(
            "upload %s... of organisation %d not found %s (imported, discarded, older than %d h,"
            " or stored by another app process: share SMSPAY_UPLOAD_DIR or set SMSPAY_UPLOAD_STORAGE=database)",
            token[:6],
            int(organisation_id),
            where,
            get_settings().upload_max_age_hours,
        )
    return data


def discard_upload(organisation_id: int, token: str) -> None:
    if _in_database():
        if not _TOKEN_RE.match(token or ""):
            return
        from sqlalchemy import delete

        from smspay_app.db import session_scope
        from smspay_app.models import PendingUpload

        with session_scope() as session:
            session.execute(delete(PendingUpload).where(*_row_where(organisation_id, token)))
        return
    path = _path(organisation_id, token)
    if path is not None:
        path.unlink(missing_ok=True)


def purge_stale_uploads(now: float | None = None) -> int:
    """Delete uploads older than ``upload_max_age_hours`` (files by their
    modification time, rows by ``created_at``): what an import never came
    for. Returns how many went."""
    max_age = get_settings().upload_max_age_hours * 3600
    removed = 0
    if _in_database():
        from datetime import timedelta

        from sqlalchemy import delete

        from smspay_app.db import session_scope
        from smspay_app.domain.clock import utcnow
        from smspay_app.models import PendingUpload

        with session_scope() as session:
            result = session.execute(
                delete(PendingUpload).where(PendingUpload.created_at < utcnow() - timedelta(seconds=max_age))
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
    cutoff = (now or time.time()) - max_age
    for path in upload_dir().glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("uploads: removed %d left behind over %d h", removed, max_age // 3600)
    return removed


@dataclass
class UploadPreview:
    headers: list[str]
    rows: list[list[str]]  # the first PREVIEW_ROWS data rows, padded to the headers
    total_rows: int
    encoding: str
    suggestion: dict[str, str]  # canonical field -> header


def preview_upload(data: bytes) -> UploadPreview:
    """Headers, the first rows and the suggested mapping; raises ``CsvError``
    when the file cannot be read as a whole (nothing to map)."""
    parsed = read_csv(data)
    width = len(parsed.headers)
    rows = [(r + [""] * width)[:width] for r in parsed.rows[:PREVIEW_ROWS]]
    return UploadPreview(
        headers=parsed.headers,
        rows=rows,
        total_rows=len(parsed.rows),
        encoding=parsed.encoding,
        suggestion=suggest_mapping(parsed.headers),
    )


MAPPING_FIELDS = CANONICAL_FIELDS
