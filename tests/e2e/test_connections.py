"""Settings → Connections in Chromium against the production build: the demo
admin adds a Karaden connection to the mounted Karaden-compatible simulator,
tests it (a clear result), and the page never shows the token again, only its
last four characters; a wrong token's test says the credentials fail. Issue
13's browser acceptance (the last test): Karaden added, tested and made the
default in Settings, a KOMOJU connection to the embedded sandbox, a campaign
sent through Karaden, a recipient on a phone paying with konbini on KOMOJU's
hosted page and seeing the voucher numbers on their own page."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, sign_in, upload
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "karaden-simulator-token"  # the mounted simulator's default
TENANT = "00000000-0000-4000-8000-00000000cafe"
KOMOJU_KEY = "sk_test_e2e_komoju_merchant_0042"  # the organisation's own KOMOJU account


def _add(page, base: str, token: str, label: str) -> None:
    page.locator("#conn-provider").click()
    page.locator("#conn-provider-karaden").click()
    page.locator("#conn-tenant_id").fill(TENANT)
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


def _retire_connections(app_server) -> None:
    """Disable every connection (messages and payments made through them keep
    their rows): the modules after this one send through the built-in route."""
    from sqlmodel import select

    from smspay_app.domain.clock import utcnow
    from smspay_app.models.connection import Connection

    with app_server.session() as session:
        for connection in session.exec(select(Connection)):
            connection.disabled_at = connection.disabled_at or utcnow()
            connection.is_default = False
            session.add(connection)
        session.commit()


def _karaden_sms_to(base: str, number: str) -> list[dict]:
    """What the Karaden-compatible simulator was asked to send to ``number``
    (Karaden's own API: GET /{tenant}/messages?to=...)."""
    answer = httpx.get(
        f"{base}/sim/karaden/{TENANT}/messages",
        params={"to": number},
        headers={"Authorization": f"Bearer {TOKEN}", "Karaden-Version": "2024-03-01"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_acceptance_karaden_in_settings_then_a_campaign_then_komoju_konbini_voucher(app_server, browser):
    """Issue 13's browser acceptance: an admin adds a Karaden connection in
    Settings, tests it, makes it the default, adds a KOMOJU connection to the
    embedded KOMOJU sandbox (the URL the form offers in demo mode; nothing
    registered by hand: the connection registers itself there), sends a
    campaign through them, and a recipient on a phone pays through KOMOJU's
    hosted page with konbini and sees the voucher numbers on their own page."""
    from sqlmodel import select

    from smspay_app.models import Connection, Payment, Recipient
    from tests.e2e.test_walkthrough import CSV, PHONE, create_campaign

    base = app_server.base_url
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = admin.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/settings/connections")
    expect(page.locator("#tab-connections")).to_be_visible(timeout=20_000)

    # The Twilio-protocol simulator first (it becomes the default), then Karaden.
    page.locator("#conn-provider").click()
    page.locator("#conn-provider-simulator").click()
    page.locator("#conn-label").fill("Twilio シミュレーター")
    page.locator("#conn-submit").click()
    expect(page.locator("#connections-message")).to_contain_text("接続を追加しました")
    _add(page, base, TOKEN, "空電 デモ")
    karaden = page.locator("[id^=conn-row-]", has_text="空電 デモ")
    expect(karaden.locator("[id^=conn-default-]")).to_be_visible()  # not the default yet
    karaden.locator("[id^=conn-test-]").click()
    expect(page.locator("#connections-message")).to_contain_text("接続できました")
    karaden.locator("[id^=conn-default-]").click()
    expect(page.locator("#connections-message")).to_contain_text("既定の接続を変更しました")
    expect(karaden.locator("[id^=conn-default-]")).to_have_count(0)
    expect(
        page.locator("[id^=conn-row-]", has_text="Twilio シミュレーター").locator("[id^=conn-default-]")
    ).to_be_visible()

    # KOMOJU: the form offers the embedded sandbox's URL in demo mode.
    page.locator("#conn-provider").click()
    page.locator("#conn-provider-komoju").click()
    hint = page.locator("#conn-hint-api_base code")
    expect(hint).to_contain_text("/sim/komoju/api/v1")
    page.screenshot(path=str(ARTIFACTS / "settings-komoju-form-ja.png"), full_page=True)
    page.locator("#conn-secret_key").fill(KOMOJU_KEY)
    page.locator("#conn-api_base").fill(hint.inner_text())
    page.locator("#conn-label").fill("KOMOJU デモ")
    page.locator("#conn-submit").click()
    expect(page.locator("#connections-message")).to_contain_text("接続を追加しました")
    komoju = page.locator("[id^=conn-row-]", has_text="KOMOJU デモ")
    expect(komoju.locator("[id^=conn-webhook-]")).to_contain_text("/webhooks/payments/cn_")
    komoju.locator("[id^=conn-test-]").click()
    expect(page.locator("#connections-message")).to_contain_text("接続できました")
    page.screenshot(path=str(ARTIFACTS / "settings-karaden-komoju-ja.png"), full_page=True)
    assert KOMOJU_KEY not in page.content() and TOKEN not in page.content()

    # A campaign, sent: through Karaden, the organisation's default now.
    page.goto(f"{base}/campaigns")
    create_campaign(page, base, "E2E 空電・KOMOJU ご請求")
    upload(page, "recipients.csv", CSV)
    expect(page.locator("#count-recipients")).to_have_text("2", timeout=20_000)
    page.locator("#send-button").click()
    page.locator("#send-confirm").click()
    expect(page.locator("#action-message")).to_contain_text("送信を開始しました", timeout=20_000)
    # the worker hands both messages to Karaden (delivery shows once it polls Karaden)
    assert wait_until(lambda: _karaden_sms_to(base, "09012345678"), timeout=30), "nothing reached Karaden"
    (sms,) = _karaden_sms_to(base, "09012345678")
    assert "山田 太郎様" in sms["body"]
    href = re.search(r"https?://\S+/l/[A-Za-z0-9_-]+", sms["body"]).group(0)

    # The recipient, on a phone: the question, the invoice, KOMOJU's hosted page.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ja-JP")
    recipient = phone.new_page()
    recipient.goto(href)
    recipient.locator("input[type=text], input[type=tel], input:not([type])").first.fill("1980/01/02")
    recipient.locator("button[type=submit], input[type=submit]").first.click()
    expect(recipient.locator("body")).to_contain_text("3,300")
    recipient.locator("form[action$='/pay'] button, form[action$='/pay'] input[type=submit]").first.click()
    expect(recipient).to_have_url(re.compile(r"/sim/komoju/sessions/"))
    recipient.locator("input[name=payment_type][value=konbini]").check()
    recipient.locator("select[name=store]").select_option("lawson")
    recipient.locator("input[name=outcome][value=success]").check()
    recipient.screenshot(path=str(ARTIFACTS / "komoju-hosted-konbini-phone.png"), full_page=True)
    recipient.locator("form").first.locator("button[type=submit]").click()

    # Back on the recipient's own page: the store and both numbers.
    expect(recipient.locator("body")).to_contain_text("コンビニでのお支払い", timeout=20_000)
    expect(recipient.locator("body")).to_contain_text("ローソン")
    recipient.screenshot(path=str(ARTIFACTS / "recipient-komoju-voucher-phone.png"), full_page=True)
    with app_server.session() as session:
        connection = session.exec(select(Connection).where(Connection.label == "KOMOJU デモ")).one()
        (payment,) = session.exec(select(Payment).where(Payment.payment_connection_id == connection.id)).all()
        assert connection.provider == "komoju" and connection.is_default
        assert (payment.status, payment.provider, payment.method) == ("processing", "komoju", "konbini")
        recipient_row = session.get(Recipient, payment.recipient_id)
        assert recipient_row.phone_e164 == "+819012345678"
        numbers = json.loads(payment.voucher_json)["konbini_display_details"]["stores"]["lawson"]
    body = recipient.locator("body").inner_text()
    assert numbers["payment_code"] in body and numbers["confirmation_number"] in body
    assert KOMOJU_KEY not in recipient.content()
    admin.close()
    phone.close()
    _retire_connections(app_server)
