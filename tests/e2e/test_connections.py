"""Settings → Connections in Chromium against the production build: the demo
admin adds a Karaden connection to the mounted Karaden-compatible simulator,
tests it (a clear result), and the page never shows the token again, only its
last four characters; a wrong token's test says the credentials fail."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, sign_in

pytestmark = pytest.mark.e2e

TOKEN = "karaden-simulator-token"  # the mounted simulator's default


def _add(page, base: str, token: str, label: str) -> None:
    page.locator("#conn-provider").click()
    page.locator("#conn-provider-karaden").click()
    page.locator("#conn-tenant_id").fill("00000000-0000-4000-8000-00000000cafe")
    page.locator("#conn-service_id").fill("1")
    page.locator("#conn-token").fill(token)
    page.locator("#conn-api_base").fill(f"{base}/sim/karaden")
    page.locator("#conn-label").fill(label)
    page.locator("#conn-submit").click()
    expect(page.locator("#connections-message")).to_contain_text("接続を追加しました")


def test_admin_adds_and_tests_a_karaden_connection(app_server, browser):
    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/settings/connections")
    expect(page.locator("#tab-connections")).to_be_visible(timeout=20_000)
    _add(page, base, TOKEN, "空電 本番")
    row = page.locator("[id^=conn-row-]").first
    expect(row).to_contain_text("空電 本番")
    expect(row).to_contain_text("••••oken")
    expect(row).to_contain_text("既定")
    expect(row).to_contain_text("キャリア判定")
    row.locator("[id^=conn-test-]").click()
    expect(page.locator("#connections-message")).to_contain_text("接続できました")
    _add(page, base, "wrong-token-1234", "誤り")
    page.locator("[id^=conn-row-]").nth(1).locator("[id^=conn-test-]").click()
    expect(page.locator("#connections-message")).to_contain_text("認証に失敗しました")
    page.screenshot(path=str(ARTIFACTS / "settings-connections-ja.png"), full_page=True)
    html = page.content()
    assert TOKEN not in html and "wrong-token-1234" not in html
    context.close()
    _remove_connections(app_server)


def _remove_connections(app_server) -> None:
    """The demo organisation goes back to the built-in route: the modules after
    this one share the server and expect their SMS through the Twilio simulator
    (with this Karaden connection left as the default, their deliveries never
    showed within their timeouts)."""
    from sqlmodel import delete

    from smspay_app.models.connection import Connection

    with app_server.session() as session:
        session.exec(delete(Connection))
        session.commit()


def test_a_payment_connection_shows_its_webhook_url_and_its_secret_once(app_server, browser):
    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/settings/connections")
    expect(page.locator("#tab-connections")).to_be_visible(timeout=20_000)
    page.locator("#conn-provider").click()
    page.locator("#conn-provider-sandbox").click()
    page.locator("#conn-secret_key").fill("sk_test_e2e_own_account_1234")
    page.locator("#conn-label").fill("決済テスト")
    page.locator("#conn-submit").click()
    expect(page.locator("#connections-message")).to_contain_text("接続を追加しました")
    secret = page.locator("#conn-new-webhook-secret")
    expect(secret).to_contain_text("whsec_")
    shown = secret.inner_text()
    row = page.locator("[id^=conn-row-]").first
    expect(row).to_contain_text("決済テスト")
    expect(row.locator("[id^=conn-webhook-]")).to_contain_text("/webhooks/payments/cn_")
    expect(row).to_contain_text("決済WebhookのURL")
    page.screenshot(path=str(ARTIFACTS / "settings-payment-connection-ja.png"), full_page=True)
    page.reload()
    expect(page.locator("[id^=conn-row-]").first).to_contain_text("決済テスト")
    expect(page.locator("#conn-new-webhook-secret")).to_have_count(0)  # shown once
    assert shown not in page.content() and "sk_test_e2e_own_account_1234" not in page.content()
    context.close()
    _remove_connections(app_server)
