"""Support staff in Chromium against the production build: a support user
finds a recipient whose link expired, reissues it with a reason; the old link
shows the expired page, the new SMS arrives in the simulator's inbox with a
new working link, the audit log shows who did it and why. The same user
cannot open campaign creation, and sees no export."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import ARTIFACTS, sign_in

pytestmark = pytest.mark.e2e

PHONE = "+819055501234"


def _arrange(app_server) -> tuple[int, int, str]:
    from sqlmodel import select

    from smspay_app.domain.clock import utcnow
    from smspay_app.models import Campaign, Organisation, Recipient, User
    from smspay_app.services import auth, links, timeline

    with app_server.session() as s:
        org = s.exec(select(Organisation)).first()
        if not s.exec(select(User).where(User.email == "support-e2e@example.com")).first():
            auth.create_user(
                s, org, "support-e2e@example.com", "support-e2e-pass", role="support", display_name="サポート 花子"
            )
        campaign = Campaign(
            organisation_id=org.id,
            name="E2E 期限切れテスト",
            status="sending",
            sms_template="{{name}}様 ご請求のお知らせです {{link}}",
            amount_yen=4400,
            page_title="ご請求",
        )
        s.add(campaign)
        s.flush()
        r = Recipient(
            campaign_id=campaign.id,
            organisation_id=org.id,
            phone_e164=PHONE,
            name="期限 切子",
            merge_data=json.dumps({"name": "期限 切子"}, ensure_ascii=False),
            amount_yen=4400,
            external_ref="C-90210",
        )
        s.add(r)
        s.flush()
        past = utcnow() - timedelta(days=4)
        timeline.record(s, r, "sms_delivered", step="delivered", at=past)
        _link, token = links.issue_link(s, r, 72, now=past)
        s.commit()
        return campaign.id, r.id, token


def test_support_reissues_an_expired_link(app_server, browser):
    base = app_server.base_url
    campaign_id, recipient_id, old_token = _arrange(app_server)
    assert "有効期限" in httpx.get(f"{base}/l/{old_token}").text  # expired before anything is done

    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = ctx.new_page()
    sign_in(page, base, "support-e2e@example.com", "support-e2e-pass")
    expect(page.locator("#new-campaign")).to_have_count(0)

    # Find the recipient by phone number typed the way a caller says it.
    page.goto(f"{base}/recipients")
    page.locator("#recipient-search").fill("090-5550-1234")
    page.locator("#recipient-search-button").click()
    expect(page.locator("#recipients-summary")).to_contain_text("1件中", timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "support-search-ja.png"))
    # The search term can be cleared (issue 15 item 10), then searched again.
    page.locator("#recipient-search-clear").click()
    expect(page.locator("#recipient-search")).to_have_value("")
    expect(page.locator("#recipient-search-clear")).to_have_count(0)
    page.locator("#recipient-search").fill("090-5550-1234")
    page.locator("#recipient-search-button").click()
    expect(page.locator("#recipients-summary")).to_contain_text("1件中", timeout=15_000)
    page.locator(".recipient-link").first.click()
    expect(page).to_have_url(re.compile(rf"/recipients/{recipient_id}$"))
    expect(page.locator("#link-list")).to_contain_text("期限切れ", timeout=15_000)

    # Reissue: a reason is required.
    page.locator("#action-reissue").click()
    page.locator("#action-confirm").click()
    expect(page.locator("#action-error")).to_contain_text("理由を入力")
    page.locator("#action-reason").fill("お客様から電話: リンクの期限切れ")
    page.screenshot(path=str(ARTIFACTS / "support-reissue-dialog-ja.png"))
    page.locator("#action-confirm").click()
    expect(page.locator("#action-message")).to_contain_text("再発行しました", timeout=15_000)
    expect(page.locator("#audit-log")).to_contain_text("お客様から電話: リンクの期限切れ")
    expect(page.locator("#audit-log")).to_contain_text("サポート 花子")
    expect(page.locator("#timeline")).to_contain_text("担当者がリンク再発行")

    # The old link shows the expired page.
    old = httpx.get(f"{base}/l/{old_token}")
    assert old.status_code == 410 and "有効期限" in old.text

    # The new SMS arrives in the simulator's inbox, with a new link that works.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ja-JP")
    inbox = phone.new_page()
    new_href = None
    for _ in range(40):
        inbox.goto(f"{base}/sim/twilio/inbox/%2B819055501234")
        hrefs = [a.get_attribute("href") for a in inbox.locator("a[href*='/l/']").all()]
        if hrefs:
            new_href = hrefs[0]
            break
        inbox.wait_for_timeout(500)
    assert new_href and old_token not in new_href
    expect(inbox.locator("body")).to_contain_text("期限 切子様")
    inbox.goto(new_href)
    expect(inbox.locator("body")).not_to_contain_text("有効期限が切れています")
    phone.close()

    # The recipient page follows live: the SMS went out again.
    expect(page.locator("#timeline")).to_contain_text("SMS事業者が受付", timeout=15_000)
    expect(page.locator("#link-list")).to_contain_text("有効")
    page.screenshot(path=str(ARTIFACTS / "support-recipient-ja.png"), full_page=True)

    # The same page in English.
    page.locator("#lang-select").click()
    page.get_by_role("option", name="en").click()
    expect(page.locator("#timeline")).to_contain_text("Staff reissued the link", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "support-recipient-en.png"), full_page=True)

    # Campaign creation is not for support staff; nor is the export.
    page.goto(f"{base}/campaigns/new")
    expect(page).not_to_have_url(re.compile(r"/campaigns/new$"), timeout=15_000)
    expect(page.locator("#campaign-name")).to_have_count(0)
    page.goto(f"{base}/campaigns/{campaign_id}")
    expect(page.locator("#campaign-title")).to_be_visible(timeout=15_000)
    expect(page.locator("#export-button")).to_have_count(0)
    cookies = {c["name"]: c["value"] for c in ctx.cookies()}
    export = httpx.get(
        f"{base}/admin/exports/campaigns/{campaign_id}.csv", cookies={"smspay_session": cookies["smspay_session"]}
    )
    assert export.status_code == 403
    ctx.close()


def test_admin_exports_the_campaign_as_excel_csv(app_server, browser):
    base = app_server.base_url
    campaign_id, _rid, _token = _arrange(app_server)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP", accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/campaigns/{campaign_id}")
    page.locator("#export-button").click()
    with page.expect_download() as info:
        page.locator("#export-utf8").click()
    data = open(info.value.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "期限 切子" in text and "090-5550-1234" in text and "到達日時" in text.splitlines()[0]
    ctx.close()
