"""Issue 14: every recipient page at most 8 KB with typical content and never
over 15 KB with the largest content the API and the editor accept (the walk
of bench/bench_page_sizes.py, on the live server); a long message is shown
in parts with next / previous links."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from smspay_app.domain.page_text import MESSAGE_PAGE_CHARS, PAGE_MESSAGE_MAX_CHARS, split_message
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to

_spec = importlib.util.spec_from_file_location(
    "bench_page_sizes", Path(__file__).resolve().parents[1] / "bench" / "bench_page_sizes.py"
)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("largest", [False, True])
def test_every_recipient_page_is_light(live_server, session, largest):
    rows = bench.walk(live_server.base_url, session, lambda **kw: make_journey(session, **kw), largest=largest)
    names = {name.split("/", 2)[2] for name, _ in rows}
    assert {"404", "identity", "wrong answer", "locked", "OTP (code)", "message (part 1)", "voucher (konbini)"} <= names
    assert {"voucher (bank)", "done (paid)", "cancelled", "expired", "voucher route"} <= names
    limit = bench.HARD_LIMIT if largest else bench.TYPICAL_LIMIT
    over = [(name, size) for name, size in rows if size > limit]
    assert not over, over
    if largest:
        assert any("part 5" in name for name, _ in rows)  # the long message really was split


def test_split_message_keeps_the_text_and_the_limit():
    text = ("お知らせの本文です。" * 30 + "\n") * 20
    parts = split_message(text)
    assert all(len(p) <= MESSAGE_PAGE_CHARS for p in parts) and len(parts) > 1
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert split_message("") == [""] and split_message("短い") == ["短い"]
    hard = "あ" * (MESSAGE_PAGE_CHARS * 2 + 5)  # no place to cut: cut hard
    assert [len(p) for p in split_message(hard)] == [MESSAGE_PAGE_CHARS, MESSAGE_PAGE_CHARS, 5]


def test_parts_have_next_and_previous_links(live_server, session):
    from smspay_app.models import Campaign

    j = make_journey(session)
    campaign = session.get(Campaign, j.campaign_id)
    campaign.page_message = "第一部。\n" + "あ" * MESSAGE_PAGE_CHARS + "\n最後の部分です。"
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        page = browser.get(f"/l/{j.token}").text
        q1, q2 = j.question_ids
        action = form_to(page, "/verify")["action"]
        browser.post(action, data={f"q_{q1}": "1980/01/02", f"q_{q2}": "123456"})
        first = browser.get(f"/l/{j.token}").text
        assert "第一部" in first and "2ページ中1ページ目" in first and "最後の部分" not in first
        assert "/pay" not in first  # the payment comes after the message
        assert f'href="/l/{j.token}?p=2&amp;lang=ja"' in first
        second = browser.get(f"/l/{j.token}?p=2&lang=ja").text
        assert "最後の部分です" in second and form_to(second, "/pay")
        assert f'href="/l/{j.token}?p=1&amp;lang=ja"' in second
        assert "最後の部分です" in browser.get(f"/l/{j.token}?p=99").text  # out of range: the last part


def test_the_api_says_and_keeps_the_limit(live_server, session):
    from smspay_app.web import api as api_web
    from tests.factories import make_admin, make_key
    from tests.helpers import CAMPAIGN, api_client, idem

    api_web.rate_limiter.reset()
    key = make_key(session, make_admin(session))
    session.commit()
    with api_client(live_server, key) as api:
        longest = api.post(
            "/api/v1/campaigns", json={**CAMPAIGN, "page_message": "あ" * PAGE_MESSAGE_MAX_CHARS}, headers=idem()
        )
        assert longest.status_code == 201, longest.text
        too_long = api.post(
            "/api/v1/campaigns", json={**CAMPAIGN, "page_message": "あ" * (PAGE_MESSAGE_MAX_CHARS + 1)}, headers=idem()
        )
        assert too_long.status_code == 422
        schema = api.get("/api/v1/openapi.json")
    if schema.status_code == 200:
        assert f"At most {PAGE_MESSAGE_MAX_CHARS} characters" in schema.text


def test_the_docs_say_the_same_limit():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    assert f"at most {PAGE_MESSAGE_MAX_CHARS:,} characters" in docs
    assert f"about {MESSAGE_PAGE_CHARS:,} characters" in docs
