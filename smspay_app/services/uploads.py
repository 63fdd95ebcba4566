"""Uploaded recipient files between the mapping step and the import.

The file is written to the upload directory under a random name bound to the
organisation (``<org id>-<token>.csv``); the browser's state holds only the
token. Reading it back needs the same organisation, so a token from another
organisation finds nothing. Files are deleted after the import and any left
behind are purged after ``upload_max_age_hours``; they hold personal data."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from smspay_app.domain.csv_import import CANONICAL_FIELDS, DEFAULT_MAX_BYTES, CsvError, read_csv, suggest_mapping
from smspay_app.settings import DATA_DIR, get_settings

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


async def store_upload_stream(organisation_id: int, reader, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Write an async ``reader`` (``await reader.read(n)``) to the upload
    directory in chunks, stopping with ``UploadTooLarge`` past ``max_bytes``
    (nothing kept). Returns the token."""
    purge_stale_uploads()
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
    token = secrets.token_urlsafe(24)
    path = _path(organisation_id, token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return token


def load_upload(organisation_id: int, token: str) -> bytes | None:
    path = _path(organisation_id, token)
    if path is None or not path.exists():
        return None
    return path.read_bytes()


def discard_upload(organisation_id: int, token: str) -> None:
    path = _path(organisation_id, token)
    if path is not None:
        path.unlink(missing_ok=True)


def purge_stale_uploads(now: float | None = None) -> int:
    cutoff = (now or time.time()) - get_settings().upload_max_age_hours * 3600
    removed = 0
    for path in upload_dir().glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
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
