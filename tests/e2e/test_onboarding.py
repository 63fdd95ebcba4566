"""A fresh installation without the demo, in Chromium against the production
build (issue 19): the one-time set-up link printed at the first start → the
owner's account (TOTP offered at once) → an organisation → its invited admin
signs in with the temporary password, picks their own, and sends a campaign.
``admin@example.com`` never exists."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from tests.e2e.helpers import ARTIFACTS, upload

pytestmark = pytest.mark.e2e

OWNER = ("owner@fresh.example", "owner-password-1")
ADMIN_EMAIL = "boss@yamada.example"
CSV = "電話番号,氏名,生年月日,金額\n090-5555-0001,山田 一郎,1980/01/02,1100\n".encode()


def test_fresh_install_setup_owner_organisation_invited_admin_sends(fresh_app_server, browser):
    from smspay_app.models import Organisation, User

    base = fresh_app_server.base_url
    printed = fresh_app_server.startup_output
    assert "demo sign-in" not in printed
    link = re.search(r"(http\S+/setup/\S+)", printed).group(1)

    owner = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    owner.add_cookies([{"name": "smspay_lang", "value": "ja", "url": base}])
    page = owner.new_page()
    page.goto(link)
    page.locator("#setup-email").fill(OWNER[0])
    page.locator("#setup-display_name").fill("運営 太郎")
    page.locator("#setup-password").fill(OWNER[1])
    page.locator("#setup-password_again").fill(OWNER[1])
    page.screenshot(path=str(ARTIFACTS / "onboarding-setup.png"), full_page=True)
    page.locator("#setup-submit").click()
    expect(page.locator("#setup-qr")).to_be_visible(timeout=20_000)  # TOTP offered at once
    page.screenshot(path=str(ARTIFACTS / "onboarding-setup-totp.png"), full_page=True)
    page.locator("#setup-totp-later").click()
    expect(page).to_have_url(re.compile(r"/installation$"), timeout=20_000)

    # the link worked once
    again = owner.new_page()
    again.goto(link)
    expect(again.locator("#setup-invalid")).to_be_visible(timeout=20_000)
    again.close()

    page.locator("#owner-name").fill("山田商店")
    page.locator("#owner-sender_name").fill("山田商店")
    page.locator("#owner-support_phone").fill("03-1234-5678")
    page.locator("#owner-create").click()
    expect(page.locator("#owner-message")).to_contain_text("山田商店", timeout=20_000)
    expect(page.locator("#owner-orgs")).to_contain_text("利用中")
    page.locator("#owner-invite-email").fill(ADMIN_EMAIL)
    page.locator("#owner-invite-name").fill("山田")
    page.locator("#owner-invite").click()
    expect(page.locator("#owner-message")).to_contain_text("仮パスワード", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "onboarding-owner.png"), full_page=True)
    message = page.locator("#owner-message").inner_text()
    temporary = re.search(r"仮パスワード: ([A-Za-z0-9]+)", message).group(1)

    with fresh_app_server.session() as s:  # sends at any hour (quiet hours have tests of their own)
        org = s.exec(select(Organisation).where(Organisation.name == "山田商店")).one()
        org.quiet_hours_start = org.quiet_hours_end = "00:00"
        s.add(org)
        s.commit()

    # the invited admin: temporary password, then their own
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    admin.add_cookies([{"name": "smspay_lang", "value": "ja", "url": base}])
    a = admin.new_page()
    a.goto(f"{base}/login")
    a.locator("#email").fill(ADMIN_EMAIL)
    a.locator("#password").fill(temporary)
    a.locator("#login-submit").click()
    expect(a).to_have_url(re.compile(r"/account$"), timeout=20_000)
    a.locator("#pw-current").fill(temporary)
    a.locator("#pw-new").fill("yamada-own-password")
    a.locator("#pw-submit").click()
    expect(a.locator("#account-message")).to_contain_text("パスワードを変更しました", timeout=20_000)
    a.goto(f"{base}/campaigns")
    expect(a.locator("#new-campaign")).to_be_visible(timeout=20_000)

    a.locator("#new-campaign").click()
    expect(a).to_have_url(re.compile(r"/campaigns/new$"))
    a.locator("#campaign-name").fill("初回のご請求")
    a.locator("#step-3").click()
    a.locator("#page-title").fill("ご請求")
    a.locator("#amount").fill("1100")
    a.locator("#step-5").click()
    a.locator("#create-campaign").click()
    expect(a).to_have_url(re.compile(r"/campaigns/\d+$"), timeout=20_000)
    upload(a, "recipients.csv", CSV)
    expect(a.locator("#count-recipients")).to_have_text("1", timeout=20_000)
    a.locator("#send-button").click()
    expect(a.locator("#send-confirm-summary")).to_contain_text("1")  # the send confirmation (issue 15)
    a.locator("#send-confirm").click()
    expect(a.locator("#count-delivered")).to_have_text("1", timeout=30_000)

    a.goto(f"{base}/usage")
    expect(a.locator("#usage-messages")).to_contain_text("1", timeout=20_000)
    a.screenshot(path=str(ARTIFACTS / "onboarding-usage.png"), full_page=True)

    page.reload()
    expect(page.locator("[id^=owner-month-]")).to_have_text(re.compile(r"^1 / [1-9]$"), timeout=20_000)

    with fresh_app_server.session() as s:
        assert s.exec(select(User).where(User.email == "admin@example.com")).first() is None
        assert {u.role for u in s.exec(select(User)).all()} == {"owner", "admin"}
