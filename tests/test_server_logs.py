"""Issue 17, item 7: failures that wrote nothing to any server log now write
one clear line each: an asset 404, a state-manager error, a stalled import, a
limiter's refusal (the missing upload: tests/test_shared_uploads.py). Never a
token or a client address in them."""

from __future__ import annotations

import logging

import pytest
import redis

from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.services import journey
from smspay_app.services.imports import ImportWatch
from smspay_app.web import server_log
from tests.helpers import free_port


def _lines(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_an_asset_404_logs_one_line_naming_the_asset_and_the_likely_cause(live_server, caplog):
    with caplog.at_level(logging.WARNING, logger="smspay.server"), live_server.client() as c:
        assert c.get("/assets/index-0a1b2c3d.js").status_code == 404
        assert c.get("/no-such-page").status_code == 404  # not an asset: nothing
        assert c.get("/api/v1/nothing.json").status_code in (401, 404)  # the API's own answer: nothing
        assert c.get("/l/unknowntoken").status_code == 404  # a recipient link: nothing
    lines = _lines(caplog, "smspay.server")
    assert len(lines) == 1, lines
    assert "/assets/index-0a1b2c3d.js" in lines[0] and "same build" in lines[0]


def test_a_state_manager_error_logs_one_line_and_the_app_uses_the_handler(monkeypatch, caplog):
    from smspay_app.smspay_app import app

    assert app.backend_exception_handler is server_log.backend_exception_handler
    port = free_port()  # nothing listens there: a real refused connection
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:secret-password@127.0.0.1:{port}/0")
    with pytest.raises(redis.ConnectionError) as refused:
        redis.Redis(port=port, socket_connect_timeout=1).ping()
    with caplog.at_level(logging.ERROR, logger="smspay.server"):
        spec = server_log.backend_exception_handler(refused.value)
    assert spec is not None  # the usual toast
    lines = _lines(caplog, "smspay.server")
    assert len(lines) == 1 and "state manager error" in lines[0] and f"127.0.0.1:{port}" in lines[0]
    assert "secret-password" not in lines[0]
    assert not server_log.is_state_manager_error(ValueError("a handler's own bug"))


def test_a_stalled_import_logs_once_per_stall():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.WARNING)
    logger = logging.getLogger("smspay.imports")
    logger.addHandler(handler)
    try:
        watch = ImportWatch(7, stall_ticks=5)
        for done in (0, 100, 200):
            watch.tick(done, 1000)
        for _ in range(12):
            watch.tick(200, 1000)
        assert watch.stalled and len(records) == 1
        assert records[0].getMessage() == "import into campaign 7 stalled: 200 of 1000 rows, no progress for 2 s"
        watch.tick(300, 1000)
        assert not watch.stalled
        for _ in range(5):
            watch.tick(300, 1000)
        watch.failed(RuntimeError("database gone"))
        assert [r.getMessage() for r in records[1:]] == [
            "import into campaign 7 stalled: 300 of 1000 rows, no progress for 2 s",
            "import into campaign 7 failed after 300 of 1000 rows: RuntimeError",
        ]
    finally:
        logger.removeHandler(handler)


def test_a_limiter_refusal_logs_one_line_without_the_key(caplog):
    limiter: SlidingWindowLimiter[str] = SlidingWindowLimiter(1, 60.0, shared="recipient_post")
    with caplog.at_level(logging.WARNING, logger="smspay.limits"):
        assert limiter.allow("198.51.100.7")
        assert not limiter.allow("198.51.100.7")
        assert not any(limiter.allow("198.51.100.7") for _ in range(50))  # a flood: still one line
        journey.visit_limiter.allow("k")
        journey.visit_limiter.allow("k")  # a repeated visit is no refusal worth a line
    lines = _lines(caplog, "smspay.limits")
    assert len(lines) == 1 and "recipient_post" in lines[0] and "198.51.100.7" not in lines[0]
    assert "1 refused since the last line" in lines[0]


def test_asset_paths():
    assert server_log.is_asset_path("/assets/entry.client-abc.js")
    assert server_log.is_asset_path("/favicon.ico")
    assert not server_log.is_asset_path("/login")
