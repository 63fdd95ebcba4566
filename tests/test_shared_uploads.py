"""Issue 17, item 4: an upload stored where every app process reads it.

The review imported 8 CSV files through two app processes, each with its own
``data/uploads``: 3 succeeded (those whose upload and websocket reached the
same process); the others stalled or said the upload had expired, and left
orphaned files. With ``settings.uploads_in_database`` the upload waits in the
database; another process (a real one here) reads and discards it. A folder
not shared with several processes is refused at start-up; uploads nobody
imported are purged by the hourly retention job as well."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from smspay_app.domain import clock
from smspay_app.services import uploads
from smspay_app.settings import PROJECT_ROOT, StorageNotShared, get_settings, require_shared_storage
from smspay_app.worker import retention as retention_job
from tests.factories import make_org

CSV = "電話番号,氏名,生年月日\n09012345678,山田太郎,1980/1/2\n".encode()


@pytest.fixture
def in_database(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("SMSPAY_UPLOAD_STORAGE", "database")
    monkeypatch.setenv("SMSPAY_UPLOAD_DIR", str(tmp_path / "up"))
    get_settings.cache_clear()
    assert get_settings().uploads_in_database
    return get_settings()


def _other_process(code: str) -> str:
    """Run ``code`` in another Python process on the same settings; its stdout."""
    env = {
        **os.environ,
        "SMSPAY_DATABASE_URL": get_settings().database_url,
        "SMSPAY_SECRET_KEY": get_settings().secret_key,
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.also_on_postgresql
def test_an_upload_stored_by_one_process_is_read_and_discarded_by_another(in_database, session, tmp_path):
    org = make_org(session)
    other = make_org(session, name="別会社")
    session.commit()
    token = uploads.store_upload(org.id, CSV)
    assert not list((tmp_path / "up").glob("*.csv"))  # nothing on this machine's disk
    read = (
        "from smspay_app.services import uploads; "
        f"d = uploads.load_upload({org.id}, {token!r}); "
        f"print(d == {CSV!r}, uploads.load_upload({other.id}, {token!r}) is None); "
        f"uploads.discard_upload({org.id}, {token!r})"
    )
    assert _other_process(read) == "True True"
    assert uploads.load_upload(org.id, token) is None  # discarded by the other process


def test_a_streamed_upload_lands_in_the_database_and_its_size_is_capped(in_database, session):
    org = make_org(session)
    session.commit()

    class Reader:
        def __init__(self, data: bytes) -> None:
            self.data = data

        async def read(self, n: int) -> bytes:
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk

    token = asyncio.run(uploads.store_upload_stream(org.id, Reader(CSV)))
    assert uploads.load_upload(org.id, token) == CSV
    with pytest.raises(uploads.UploadTooLarge):
        asyncio.run(uploads.store_upload_stream(org.id, Reader(b"x" * 101), max_bytes=100))


def test_uploads_nobody_imported_are_purged_by_the_retention_job(in_database, session):
    org = make_org(session)
    session.commit()
    with clock.frozen(datetime(2026, 3, 2, 1, 0)) as frozen:
        token = uploads.store_upload(org.id, CSV)
        frozen.tick(timedelta(hours=23))
        asyncio.run(retention_job.run_once())
        assert uploads.load_upload(org.id, token) == CSV
        frozen.tick(timedelta(hours=2))
        asyncio.run(retention_job.run_once())
        assert uploads.load_upload(org.id, token) is None


def test_a_missing_upload_logs_one_line_that_names_the_likely_cause(in_database, session, caplog):
    org = make_org(session)
    session.commit()
    with caplog.at_level(logging.WARNING, logger="smspay.uploads"):
        assert uploads.load_upload(org.id, "A" * 32) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "smspay.uploads"]
    assert len(lines) == 1 and "not found" in lines[0] and "SMSPAY_UPLOAD_DIR" in lines[0]
    assert "A" * 32 not in lines[0]  # never the whole token


def test_several_processes_with_an_unshared_upload_folder_refuse_to_start(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("REFLEX_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SMSPAY_UPLOAD_STORAGE", "folder")
    get_settings.cache_clear()
    with pytest.raises(StorageNotShared, match="SMSPAY_UPLOAD_DIR"):
        require_shared_storage()
    monkeypatch.setenv("SMSPAY_UPLOAD_DIR", str(tmp_path / "shared"))
    get_settings.cache_clear()
    require_shared_storage()  # a folder they share: named, accepted
    monkeypatch.delenv("SMSPAY_UPLOAD_DIR")
    monkeypatch.setenv("SMSPAY_UPLOAD_STORAGE", "auto")
    get_settings.cache_clear()
    require_shared_storage()
    assert get_settings().uploads_in_database  # auto with several processes: the database
    monkeypatch.delenv("REFLEX_REDIS_URL")
    get_settings.cache_clear()
    assert not get_settings().uploads_in_database  # one process: the folder, as before
