"""The link landing's hot path (issue 16, item 2): the same pages, headers and
writes as before, cheaper. Many first GETs at once each answer only once
their own visit row is committed, and they share commits (group commit)."""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import event

from smspay_app.db import get_engine
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
