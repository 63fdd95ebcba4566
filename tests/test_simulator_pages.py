"""The development simulators' pages (issue 15 item 11): the SMS simulator's
inbox and the payment sandbox's pages in Japanese by default and in English
with ``?lang=en`` or an English browser, times in Japan time, and the sandbox
checkout naming who is paid (the organisation, passed in the checkout)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from smspay_app.providers.sms import simulator
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA


def _get(app, url: str, **headers) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
            return await client.get(url, headers=headers)

    return asyncio.run(go())


def test_sms_simulator_inbox_in_japanese_by_default_english_on_request_times_in_japan():
    app = simulator.create_app(account_sid="ACtest", auth_token="secret", inbound_url="")
    state = app.state.sim
    state.messages["SM1"] = simulator.SimMessage(
        sid="SM1",
        to="+819012345678",
        sender="TEST",
        body="お支払いはこちら https://example.com/l/abc",
        status="delivered",
        date_created=datetime(2026, 12, 1, 18, 57),  # 03:57 on 2 December in Tokyo
    )
    state.order.append("SM1")

    ja = _get(app, "/inbox/+819012345678")
    assert "<html lang='ja'>" in ja.text
    assert "受信箱 +819012345678" in ja.text and "配信済み" in ja.text and "返信する" in ja.text
    assert "2026年12月2日 03:57" in ja.text and "Asia/Tokyo" in ja.text
    en = _get(app, "/inbox/+819012345678?lang=en")
    assert "<html lang='en'>" in en.text and "Inbox +819012345678" in en.text
    assert "2 Dec 2026 03:57" in en.text and "delivered" in en.text
    assert "Inbox +819012345678" in _get(app, "/inbox/+819012345678", **{"Accept-Language": "en-US"}).text
    assert "1件の電話番号" in _get(app, "/inbox").text
    assert 'href="https://example.com/l/abc"' in ja.text  # the link still taps through


def test_sandbox_checkout_names_the_merchant_in_the_recipients_language(live_server, session):
    recipient_web.post_limiter.reset()
    j = make_journey(session)
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": "en-US"}) as client:
        q1, q2 = j.question_ids
        client.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
        to_gateway = client.post(f"/l/{j.token}/pay", data={})
        hosted = client.get(to_gateway.headers["location"])
        # The campaign is Japanese: the checkout follows it (Stripe's locale), not the browser.
        assert "<html lang=ja>" in hosted.text
        assert "支払先: テスト電力株式会社" in hosted.text and "お支払い" in hosted.text
        assert "コンビニ払い" in hosted.text and "サンドボックス" in hosted.text
        english = client.get(to_gateway.headers["location"] + "?lang=en")
        assert "<html lang=en>" in english.text
        assert "Pay to: テスト電力株式会社" in english.text and "Convenience store" in english.text
