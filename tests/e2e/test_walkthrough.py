"""The whole flow as people do it, in Chromium against the production build:
an operator signs in, creates a campaign, imports a CSV and sends; a recipient
opens the SMS link on a phone, answers the question, pays in the sandbox; the
campaign page shows the funnel."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import ARTIFACTS, pay_by_card_in_sandbox, sign_in, upload

pytestmark = pytest.mark.e2e

CSV = (
    "電話番号,氏名,生年月日,金額\n"
    "090-1234-5678,山田 太郎,1980/01/02,3300\n"
    "０８０－２３４５－６７８９,佐藤 花子,S55.3.4,5500\n"
    "03-1234-5678,固定 電話,1970/1/1,1000\n"
).encode()

PHONE = {"width": 390, "height": 844}


def create_campaign(page: Page, base_url: str, name: str) -> str:
    page.locator("#new-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/new$"))
    page.locator("#campaign-name").fill(name)
    expect(page.locator("#sms-summary")).to_contain_text("日本語（全角）", timeout=10_000)
    page.locator("#step-3").click()  # the guided editor: basics, SMS, page, identity, review
    page.locator("#page-title").fill("11月分のご請求")
    page.locator("#amount").fill("3300")
    page.locator("#step-5").click()
    page.locator("#create-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"), timeout=20_000)
    expect(page.locator("#campaign-title")).to_have_text(name)
    return page.url.rsplit("/", 1)[1]


def test_operator_to_payment_walkthrough(app_server, browser):
    base = app_server.base_url
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = admin.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    create_campaign(page, base, "E2E 11月分ご請求")

    # Bad input first: a file that is not a CSV imports nothing and says why.
    upload(
        page,
        "photo.csv",
        confirm=False,
        data=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa\x00\x00\x00\x00",
    )
    expect(page.locator("#import-result")).to_contain_text("何も取り込まれていません", timeout=20_000)
    expect(page.locator("#count-recipients")).to_have_text("0")

    upload(page, "recipients.csv", CSV)
    expect(page.locator("#import-result")).to_contain_text("2件を取り込みました", timeout=20_000)
    expect(page.locator("#import-errors")).to_contain_text("4")  # the landline's row, with its reason
    expect(page.locator("#count-recipients")).to_have_text("2")
    page.screenshot(path=str(ARTIFACTS / "admin-campaign-imported.png"), full_page=True)

    page.locator("#send-button").click()
    # Send asks first (issue 15 item 2): recipients, SMS count, cost, when it starts.
    summary = page.locator("#send-confirm-summary")
    for text in ("宛先: 2件", "SMS: 4通分", "概算費用: ¥40", "送信開始:"):
        expect(summary).to_contain_text(text)
    page.locator("#send-confirm").click()
    expect(page.locator("#action-message")).to_contain_text("送信を開始しました", timeout=20_000)
    expect(page.locator("#count-delivered")).to_have_text("2", timeout=30_000)

    # The simulator's inbox shows what the phone received, with the link.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ja-JP")
    recipient = phone.new_page()
    recipient.goto(f"{base}/sim/twilio/inbox/%2B819012345678")
    link = recipient.locator("a[href*='/l/']").first
    expect(link).to_be_visible()
    sms_text = recipient.locator("body").inner_text()
    assert "山田 太郎様" in sms_text and "【デモ商事】" in sms_text
    href = link.get_attribute("href")

    # The person opens the link on the phone: the question, not the invoice.
    recipient.goto(href)
    expect(recipient.locator("body")).to_contain_text("生年月日")
    expect(recipient.locator("body")).not_to_contain_text("3,300")
    recipient.screenshot(path=str(ARTIFACTS / "recipient-question-phone.png"), full_page=True)

    # A wrong answer is refused.
    recipient.locator("input[type=text], input[type=tel], input:not([type])").first.fill("1999/12/31")
    recipient.locator("button[type=submit], input[type=submit]").first.click()
    expect(recipient.locator("body")).to_contain_text("一致しませんでした")
    expect(recipient.locator("body")).not_to_contain_text("3,300")

    # The right answer, in another form (Japanese era), leads to the invoice.
    recipient.locator("input[type=text], input[type=tel], input:not([type])").first.fill("昭和55年1月2日")
    recipient.locator("button[type=submit], input[type=submit]").first.click()
    expect(recipient.locator("body")).to_contain_text("3,300")
    recipient.screenshot(path=str(ARTIFACTS / "recipient-invoice-phone.png"), full_page=True)

    # Pay: the sandbox's hosted page, card, success, back to a thank-you page.
    pay_by_card_in_sandbox(recipient, shot="sandbox-checkout-phone.png")
    recipient.screenshot(path=str(ARTIFACTS / "recipient-thanks-phone.png"), full_page=True)

    # The receipt (領収書, a qualified invoice) after payment, printable and as a PDF.
    recipient.goto(f"{href}/invoice")
    expect(recipient.locator("#invoice-heading")).to_have_text("領収書")
    expect(recipient.locator("#invoice-issuer")).to_contain_text("登録番号")
    expect(recipient.locator("#invoice-rates")).to_contain_text("10%対象 合計 ¥3,300（うち消費税 ¥300）")
    expect(recipient.locator("#invoice-pdf")).to_be_visible()
    recipient.screenshot(path=str(ARTIFACTS / "recipient-receipt-phone.png"), full_page=True)
    pdf = recipient.request.get(f"{href}/invoice.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"

    # The campaign page shows the funnel without a reload.
    expect(page.locator("#count-sent")).to_have_text("2")
    expect(page.locator("#count-delivered")).to_have_text("2")
    expect(page.locator("#count-clicked")).to_have_text("1", timeout=10_000)
    expect(page.locator("#count-verified")).to_have_text("1")
    expect(page.locator("#count-paid")).to_have_text("1", timeout=10_000)
    expect(page.locator("#collected")).to_have_text("¥3,300")
    page.screenshot(path=str(ARTIFACTS / "admin-campaign-paid.png"), full_page=True)

    # Opened from the list (client-side navigation), the page keeps its funnel
    # (issue 15 item 3) and says everything once: one title, one progress
    # panel, one live badge (item 4).
    campaign_url = page.url
    page.locator("a[href='/campaigns']").first.click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    page.locator(f"a[href='/campaigns/{campaign_url.rsplit('/', 1)[1]}']").first.click()
    expect(page.locator("#dash-funnel-table")).to_be_visible(timeout=20_000)
    expect(page.locator("#campaign-funnel-panel")).not_to_contain_text("キャンペーンを選んでください")
    expect(page.locator("#sending-progress")).to_have_count(1)
    expect(page.locator("#dash-progress-line")).to_have_count(0)
    expect(page.locator("#dash-campaign-name")).to_have_count(0)
    expect(page.locator("#progress-line")).to_contain_text("SMS 2 / 2 通 処理済み")

    # An unknown link gets a friendly page, not an error.
    unknown = httpx.get(f"{base}/l/AAAAAAAAAAAAAAAAAAAAAA")
    assert unknown.status_code == 404
    assert "<form" not in unknown.text  # nothing to try on an unknown link
    admin.close()
    phone.close()
