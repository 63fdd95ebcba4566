"""The live dashboard in Chromium against the production build: with the
dashboard open in one browser context, a recipient completes a payment in
another context (link, identity question, sandbox checkout); the funnel's paid
count moves within 2 seconds, without a reload. Also the reminder-rule editor
(bad input refused in the user's language, good input saved), and screenshots
of both pages in Japanese and English."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from tests.e2e.helpers import ARTIFACTS, pay_by_card_in_sandbox, sign_in

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-key"  # SMSPAY_SECRET_KEY of the app_server fixture
PHONE = {"width": 390, "height": 844}


def _arrange(app_server) -> tuple[int, str]:
    """A sending campaign of the demo organisation with 40 recipients at
    various steps over the last day, and one delivered recipient with an
    identity question and a live link. Returns (campaign id, raw link token)."""
    from smspay_app.domain.answers import hash_answer, normalize_answer
    from smspay_app.domain.clock import utcnow
    from smspay_app.models import Campaign, CampaignQuestion, IdentityAnswer, Organisation, Recipient
    from smspay_app.services import timeline
    from smspay_app.services.links import issue_link

    rnd = random.Random(5)
    now = utcnow()
    with app_server.session() as s:
        org = s.exec(select(Organisation).order_by(Organisation.id)).first()
        campaign = Campaign(
            organisation_id=org.id,
            name="E2E ダッシュボード 6月分",
            status="sending",
            sms_template="{{name}}様 {{link}}",
            page_title="6月分のご請求",
            amount_yen=4400,
            send_started_at=now - timedelta(hours=20),
        )
        s.add(campaign)
        s.commit()
        q = CampaignQuestion(campaign_id=campaign.id, position=0, label="生年月日", column="birth", kind="date")
        s.add(q)
        for i in range(40):
            r = Recipient(
                campaign_id=campaign.id,
                organisation_id=org.id,
                phone_e164=f"+8170{20000000 + i:08d}",
                name=f"顧客{i}",
                amount_yen=4400,
            )
            s.add(r)
            s.flush()
            sent = now - timedelta(hours=20) + timedelta(minutes=i)
            timeline.record(s, r, "sms_sent", step="sent", at=sent)
            roll = rnd.random()
            if roll < 0.9:
                timeline.record(s, r, "sms_delivered", step="delivered", at=sent + timedelta(minutes=1))
            if roll < 0.6:
                timeline.record(s, r, "click", step="clicked", at=sent + timedelta(hours=rnd.randint(0, 18)))
            if roll < 0.4:
                timeline.record(s, r, "verified", step="verified", at=r.clicked_at + timedelta(minutes=2))
            if roll < 0.25:
                timeline.record(s, r, "paid", step="paid", at=r.clicked_at + timedelta(minutes=5))
        payer = Recipient(
            campaign_id=campaign.id,
            organisation_id=org.id,
            phone_e164="+817099990000",
            name="山田 花子",
            amount_yen=4400,
        )
        s.add(payer)
        s.flush()
        timeline.record(s, payer, "sms_delivered", step="delivered", at=now - timedelta(minutes=10))
        s.add(
            IdentityAnswer(
                recipient_id=payer.id,
                question_id=q.id,
                answer_hash=hash_answer(SECRET, payer.id, q.id, normalize_answer("1985/6/7", "date")),
            )
        )
        _, token = issue_link(s, payer, 72)
        s.commit()
        return campaign.id, token


def test_paid_count_moves_live_and_reminder_rules(app_server, browser):
    base = app_server.base_url
    campaign_id, token = _arrange(app_server)

    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = admin.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    page.goto(f"{base}/dashboard")
    page.locator(f"#dash-row-{campaign_id}").click()
    expect(page.locator("#dash-campaign-name")).to_have_text("E2E ダッシュボード 6月分", timeout=20_000)
    paid_before = int(page.locator("#dash-paid").inner_text().replace(",", ""))
    assert paid_before > 0
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Another browser context: the recipient pays on a phone.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ja-JP")
    recipient = phone.new_page()
    recipient.goto(f"{base}/l/{token}")
    recipient.locator("input[type=text], input[type=tel], input:not([type])").first.fill("昭和60年6月7日")
    recipient.locator("button[type=submit], input[type=submit]").first.click()
    expect(recipient.locator("body")).to_contain_text("4,400")
    pay_by_card_in_sandbox(recipient)

    # The webhook has been applied: the open dashboard shows it within 2 s.
    expect(page.locator("#dash-paid")).to_have_text(f"{paid_before + 1:,}", timeout=2_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    page.wait_for_timeout(1200)  # charts settle
    page.screenshot(path=str(ARTIFACTS / "dashboard-ja.png"), full_page=True)

    # English.
    admin.add_cookies([{"name": "smspay_lang", "value": "en", "url": base}])
    page.goto(f"{base}/dashboard")
    page.locator(f"#dash-row-{campaign_id}").click()
    expect(page.locator("#dash-overview")).to_contain_text("Outstanding", timeout=20_000)
    expect(page.locator("#dash-campaign-name")).to_have_text("E2E ダッシュボード 6月分")
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / "dashboard-en.png"), full_page=True)

    # Reminder rules: bad input is refused with a reason, then good input saved.
    page.goto(f"{base}/campaigns/{campaign_id}/reminders")
    expect(page.locator("#reminders-title")).to_contain_text("E2E ダッシュボード 6月分", timeout=20_000)
    page.locator("#add-rule").click()
    page.locator("#add-rule").click()
    page.locator(".rule-days input").nth(0).fill("-3")
    page.locator(".rule-days input").nth(1).fill("abc")
    page.locator("#reminder-template").fill("{{name}}様 お支払期限のご案内です {{link}}")
    page.locator("#save-reminders").click()
    expect(page.locator("#reminder-errors")).to_contain_text("Rule 2", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "reminders-en-error.png"), full_page=True)
    page.locator(".rule-days input").nth(1).fill("7")
    page.locator("#reminder-max input, input#reminder-max").first.fill("2")
    page.locator("#save-reminders").click()
    expect(page.locator("#reminder-saved")).to_be_visible(timeout=10_000)
    with app_server.session() as s:
        from smspay_app.models import Campaign

        saved = s.get(Campaign, campaign_id)
        assert json.loads(saved.reminder_rules)["rules"][1]["days"] == 7
        assert "お支払期限のご案内" in saved.reminder_template
    admin.add_cookies([{"name": "smspay_lang", "value": "ja", "url": base}])
    page.goto(f"{base}/campaigns/{campaign_id}/reminders")
    expect(page.locator("#reminders-title")).to_contain_text("リマインド設定", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "reminders-ja.png"), full_page=True)
    admin.close()
    phone.close()
