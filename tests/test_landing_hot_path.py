"""The link landing's hot path (issue 16, item 2): the same pages, headers and
writes as before, cheaper. Many first GETs at once each answer only once
their own visit row is committed, and they share commits (group commit)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from smspay_app.db import get_engine, read_connection
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA


def _db_path() -> str:
    return str(get_engine().url.database)


def test_concurrent_first_visits_are_committed_before_each_answer_and_share_commits(live_server, session):
    journey.reset_visit_dedup()
    journeys = [make_journey(session, phone=f"+8190{10_000_000 + i:08d}") for i in range(24)]
    session.commit()
    commits: list[int] = []

    def count(conn) -> None:
        commits.append(1)

    event.listen(get_engine(), "commit", count)
    missing: list[str] = []
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def tab(mine: list) -> None:
        barrier.wait()
        with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
            for j in mine:
                response = client.get(f"/l/{j.token}")
                statuses.append(response.status_code)
                with sqlite3.connect(_db_path()) as db:  # another connection: committed
                    (n,) = db.execute(
                        "SELECT COUNT(*) FROM timelineevent WHERE recipient_id = ? AND kind = 'visit'",
                        (j.recipient_id,),
                    ).fetchone()
                if n != 1:
                    missing.append(j.token)

    try:
        threads = [threading.Thread(target=tab, args=(journeys[k::8],)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(get_engine(), "commit", count)
    assert statuses == [200] * 24
    assert missing == []
    assert 1 <= len(commits) < 24  # the visits shared commits


@pytest.mark.also_on_postgresql
def test_the_landing_read_sees_every_commit_and_cannot_write(session):
    """``db.read_connection`` (the landing GET's read): on SQLite each thread
    keeps one connection out of the pool; a revocation committed elsewhere
    after it was opened is seen by the next read, and a write through it
    fails instead of landing."""
    from smspay_app.services.links import revoke_live_links

    j = make_journey(session)
    session.commit()
    with read_connection() as reader:
        first = journey.load_view(reader, j.token)
        held = reader.driver
    assert first is not None and first.link.revoked_at is None
    revoke_live_links(session, [j.recipient_id], "test")
    session.commit()
    with read_connection() as reader:
        again = journey.load_view(reader, j.token)
        if get_engine().dialect.name == "sqlite":
            assert reader.driver is held  # the same connection: no pool check-out
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.driver.execute("DELETE FROM link")
    assert again is not None and again.link.revoked_at is not None
    assert journey.link_state(again) != "ok"
    if get_engine().dialect.name == "sqlite":
        other: list = []
        thread = threading.Thread(target=lambda: other.append(_reader_driver()))
        thread.start()
        thread.join()
        assert other[0] is not held  # one per thread (each event loop its own)
        assert get_engine().pool.checkedout() == 0  # taken out of the pool, not held from it


def _reader_driver():
    with read_connection() as reader:
        return reader.driver


def test_the_unknown_page_is_the_same_page_each_time_and_keeps_its_headers(live_server):
    with live_server.client() as client:
        first = client.get("/l/AAAAAAAAAAAAAAAAAAAAAA", headers={"Accept-Language": "en"})
        again = client.get("/l/BBBBBBBBBBBBBBBBBBBBBB", headers={"Accept-Language": "en"})
        chosen = client.get("/l/CCCCCCCCCCCCCCCCCCCCCC?lang=ja")
    assert first.status_code == again.status_code == chosen.status_code == 404
    assert first.text == again.text and 'lang="en"' in first.text
    assert 'lang="ja"' in chosen.text and "smspay_lang=ja" in chosen.headers["set-cookie"]
    for response in (first, chosen):
        assert response.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert len([k for k, _ in response.headers.multi_items() if k == "x-frame-options"]) == 1
    assert recipient_web._unknown_html  # rendered once per language


def test_visits_of_a_group_commit_are_one_insert_with_the_rows_one_at_a_time_would_write(session):
    """``record_visits`` (the group commit's writer) writes what ``record_visit``
    writes through the ORM, for many GETs in one executemany, and still skips
    a visit seen within the de-duplication window."""
    from sqlmodel import select

    from smspay_app.models import TimelineEvent

    journey.reset_visit_dedup()
    journeys = [make_journey(session, phone=f"+8190{20_000_000 + i:08d}") for i in range(4)]
    session.commit()
    with read_connection() as reader:
        views = [journey.load_view(reader, j.token) for j in journeys]
    orm_ctx = journey.load_context(session, journeys[0].token)
    assert journey.record_visit(session, orm_ctx, ua_class="feature_phone", method="GET", state="ok") == "visit"
    session.commit()
    inserts: list[tuple[str, bool]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT"):
            inserts.append((statement, executemany))

    event.listen(get_engine(), "before_cursor_execute", seen)
    try:
        with get_engine().connect() as connection:
            visits = [(ctx, "smartphone", "GET", "ok") for ctx in views]
            visits.append((views[0], "feature_phone", "GET", "ok"))  # recorded above: deduplicated
            visits.append((views[1], "preview", "GET", "ok"))
            assert journey.record_visits(connection, visits) == 5
            connection.commit()
    finally:
        event.remove(get_engine(), "before_cursor_execute", seen)
    assert len(inserts) == 1 and inserts[0][1] and "timelineevent" in inserts[0][0]
    rows = session.exec(select(TimelineEvent).order_by(TimelineEvent.id)).all()
    visits_written = [r for r in rows if r.kind in ("visit", "preview")]
    assert [(r.recipient_id, r.kind) for r in visits_written] == [
        (journeys[0].recipient_id, "visit"),  # the ORM's
        *[(j.recipient_id, "visit") for j in journeys],
        (journeys[1].recipient_id, "preview"),
    ]
    orm, core = visits_written[0], visits_written[1]
    assert (orm.organisation_id, orm.campaign_id) == (core.organisation_id, core.campaign_id)
    assert json.loads(orm.detail) == {
        "link_id": views[0].link.id,
        "ua": "feature_phone",
        "method": "GET",
        "state": "ok",
    }
    assert json.loads(core.detail) == {"link_id": views[0].link.id, "ua": "smartphone", "method": "GET", "state": "ok"}
    assert orm.at is not None and core.at is not None


def test_the_probe_cookie_is_the_header_starlette_would_write_and_only_for_a_browser_without_it(live_server, session):
    from starlette.responses import Response

    j = make_journey(session)
    session.commit()
    expected = Response()
    expected.set_cookie(
        recipient_web.PROBE_COOKIE, "1", max_age=3600, path="/l/", httponly=True, samesite="lax", secure=False
    )
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        first = client.get(f"/l/{j.token}")
        again = client.get(f"/l/{j.token}")  # the client sends the cookie back
    assert first.status_code == again.status_code == 200
    assert first.headers.get_list("set-cookie") == [expected.headers["set-cookie"]]
    assert "set-cookie" not in again.headers
    secure = recipient_web._probe_set_cookie(True)[1].decode()
    assert secure == expected.headers["set-cookie"] + "; Secure"


def test_serving_the_web_app_moves_the_start_up_objects_out_of_the_collectors_reach():
    """``build_web_app`` served alone (its lifespan) freezes the objects alive
    at start-up once, so a full collection no longer scans them; the Reflex
    app registers the same step as a lifespan task. A fresh interpreter: this
    test process may have frozen already."""
    code = (
        "import gc\n"
        "from starlette.testclient import TestClient\n"
        "from smspay_app.web.app import build_web_app\n"
        "before = gc.get_freeze_count()\n"
        "with TestClient(build_web_app()):\n"
        "    during = gc.get_freeze_count()\n"
        "with TestClient(build_web_app()):\n"
        "    again = gc.get_freeze_count()\n"
        "print(before, during, again)\n"
    )
    env = dict(os.environ, SMSPAY_DATABASE_URL=get_engine().url.render_as_string(hide_password=False))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    before, during, again = map(int, out.stdout.split())
    assert before == 0 and during > 10_000
    assert again < during + 10_000  # once per process, not once per app
    source = (Path(__file__).resolve().parent.parent / "smspay_app" / "smspay_app.py").read_text()
    assert "app.register_lifespan_task(freeze_start_up_objects)" in source


def test_the_cached_pages_are_kept_apart_by_charset(live_server, session):
    """The identity and 404 pages are cached already encoded: a feature phone
    after a smartphone (and back) gets the same page in its own charset,
    never the bytes cached for the other."""
    from tests.test_feature_phones import KDDI

    j = make_journey(session)
    session.commit()
    codecs = {BROWSER_UA: ("UTF-8", "utf-8"), KDDI: ("Shift_JIS", "cp932")}
    for agent in (BROWSER_UA, KDDI, BROWSER_UA, KDDI):
        charset, codec = codecs[agent]
        with live_server.client(headers={"User-Agent": agent, "Accept-Language": "ja"}) as client:
            identity = client.get(f"/l/{j.token}")
            unknown = client.get("/l/AAAAAAAAAAAAAAAAAAAAAA")
        for response, words in ((identity, "ご本人確認"), (unknown, "<html")):
            assert response.headers["content-type"] == f"text/html; charset={charset}"
            text = response.content.decode(codec)  # strict: the other charset's bytes would not decode as this
            assert f'<meta charset="{charset}">' in text and words in text
        assert f"/l/{j.token}" in identity.content.decode(codec)
