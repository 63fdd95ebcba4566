"""Issue 15 in the browser: quiet hours at send time (the check and the
confirmation say how many wait and until when; "send now anyway" with a reason
sends; held messages can be released), the send confirmation's figures, the
API reference rendering with the network blocked except the app's own origin,
the Developers page's link, and html[lang] following the UI language."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from tests.e2e.helpers import ARTIFACTS, sign_in, upload
from tests.e2e.test_walkthrough import CSV, create_campaign

pytestmark = pytest.mark.e2e


def _set_quiet_hours(app_server, start: str, end: str) -> None:
    with app_server.session() as s:
        s.exec(text(f"UPDATE organisation SET quiet_hours_start = '{start}', quiet_hours_end = '{end}'"))
        s.commit()


def _night_now() -> tuple[str, str]:
    """A quiet-hours window around the current Tokyo time (the app server's
    clock is the real one): it started an hour ago and ends in three hours."""
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    return (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")


def test_quiet_hours_at_send_time(app_server, browser):
    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    start, end = _night_now()
    _set_quiet_hours(app_server, start, end)
    try:
        # 1. Send now anyway, from the confirmation.
        create_campaign(page, base, "E2E 夜間 今すぐ送信")
        upload(page, "recipients.csv", CSV)
        expect(page.locator("#count-recipients")).to_have_text("2", timeout=20_000)
        # Japanese numbers in the domestic format in every table (item 9).
        expect(page.locator("#recipients-table")).to_contain_text("090-1234-5678")
        expect(page.locator("#recipients-table")).not_to_contain_text("+81")
        expect(page.locator("#send-wait")).to_contain_text("2件のSMSは", timeout=20_000)
        expect(page.locator("#send-wait")).to_contain_text(end)
        page.screenshot(path=str(ARTIFACTS / "console-send-check-quiet-ja.png"), full_page=True)
        page.locator("#send-button").click()
        summary = page.locator("#send-confirm-summary")
        expect(summary).to_contain_text("宛先: 2件")
        expect(summary).to_contain_text("送信開始: ")
        expect(summary).to_contain_text(end)
        expect(summary).to_contain_text("配信停止時間帯のため")
        expect(page.locator("#send-now-confirm")).to_be_disabled()
        page.locator("#send-now-reason").fill("お客様のご依頼で至急")
        expect(page.locator("#send-now-confirm")).to_be_enabled(timeout=5_000)
        page.screenshot(path=str(ARTIFACTS / "console-send-confirm-quiet-ja.png"))
        page.locator("#send-now-confirm").click()
        expect(page.locator("#action-message")).to_contain_text("送信を開始しました", timeout=20_000)
        expect(page.locator("#count-delivered")).to_have_text("2", timeout=30_000)

        # 2. Sent normally at night: held, said so, and released on demand.
        create_campaign_url = page.url
        page.goto(f"{base}/campaigns")
        create_campaign(page, base, "E2E 夜間 保留")
        assert page.url != create_campaign_url
        upload(page, "recipients.csv", CSV)
        expect(page.locator("#count-recipients")).to_have_text("2", timeout=20_000)
        page.locator("#send-button").click()
        page.locator("#send-confirm").click()
        expect(page.locator("#held-callout")).to_contain_text("2件のSMSが配信停止時間帯のため", timeout=20_000)
        expect(page.locator("#progress-held")).to_have_text("2")
        page.screenshot(path=str(ARTIFACTS / "console-held-ja.png"), full_page=True)
        page.locator("#held-send-now").click()
        page.locator("#held-send-now-reason").fill("支払期限が今日のため")
        page.locator("#held-send-now-confirm").click()
        expect(page.locator("#action-message")).to_contain_text("保留中の2件を今すぐ送信します", timeout=20_000)
        expect(page.locator("#count-delivered")).to_have_text("2", timeout=30_000)
        expect(page.locator("#held-callout")).to_have_count(0)
    finally:
        _set_quiet_hours(app_server, "00:00", "00:00")
        context.close()


def test_api_reference_offline_and_linked(app_server, browser):
    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ja-JP")
    blocked: list[str] = []

    def only_own_origin(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_own_origin)
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/developers")
    link = page.locator("#api-docs-link")
    expect(link).to_have_attribute("href", "/api/v1/docs")
    page.goto(f"{base}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("smspay API", timeout=20_000)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "console-api-docs-offline.png"))
    assert not [u for u in blocked if "docs" in u or "swagger" in u], blocked
    context.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_html_lang_follows_the_ui_language(app_server, browser, lang):
    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo", lang=lang)
    expect(page.locator("html")).to_have_attribute("lang", lang, timeout=10_000)
    page.goto(f"{base}/dashboard")
    expect(page.locator("html")).to_have_attribute("lang", lang, timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / f"console-dashboard-{lang}.png"), full_page=True)
    context.close()
    assert re.match(r"^(ja|en)$", lang)
