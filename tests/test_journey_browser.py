"""The journey in a real browser with JavaScript disabled, on a 320 px wide
screen (a feature-phone-sized viewport): forms only, no script needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from smspay_app.models import Campaign, Recipient
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import reload

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _chromium() -> str | None:
    return os.environ.get("SMSPAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no chromium on this machine")
def test_journey_without_javascript(live_server, session):
    from playwright.sync_api import sync_playwright

    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    j = make_journey(session)
    q1, q2 = j.question_ids
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=args)
        try:
            context = browser.new_context(
                java_script_enabled=False, locale="ja-JP", viewport={"width": 320, "height": 640}
            )
            page = context.new_page()
            page.goto(f"{live_server.base_url}/l/{j.token}")
            assert page.locator("h1").inner_text() == "ご本人確認"
            page.fill(f"#q{q1}", "S55.1.2")
            page.fill(f"#q{q2}", "123456")
            page.click("button[type=submit]")
            assert "¥12,340" in page.content()
            page.click("text=お支払いへ進む")
            assert "/sim/stripe/pay/" in page.url
            page.check("input[value=card]")
            page.check("input[value=success]")
            page.click("button[type=submit]")
            page.wait_for_url(f"**/l/{j.token}/done")
            assert "お支払いありがとうございました" in page.content()
        finally:
            browser.close()
    assert reload(session, Recipient, j.recipient_id).status == "paid"


@pytest.mark.skipif(_chromium() is None, reason="no chromium on this machine")
@pytest.mark.parametrize(
    ("method", "outcome", "shows"), [("konbini", "success", "ローソン"), ("bank", "pending", "口座番号")]
)
def test_voucher_journey_without_javascript(live_server, session, method, outcome, shows):
    """Convenience store and bank transfer end on our own page with the
    numbers and the deadline (screenshot in test-artifacts/voucher-*.png),
    then complete when the sandbox marks them paid."""
    from playwright.sync_api import sync_playwright

    from smspay_app.domain.formatting import people_date, people_datetime
    from smspay_app.models import Payment

    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    j = make_journey(session)
    q1, q2 = j.question_ids
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    shot = ARTIFACTS
    shot.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=args)
        try:
            context = browser.new_context(
                java_script_enabled=False, locale="ja-JP", viewport={"width": 320, "height": 640}
            )
            page = context.new_page()
            page.goto(f"{live_server.base_url}/l/{j.token}")
            page.fill(f"#q{q1}", "S55.1.2")
            page.fill(f"#q{q2}", "123456")
            page.click("button[type=submit]")
            page.click("text=お支払いへ進む")
            page.check(f"input[value={method}]")
            page.check(f"input[value={outcome}]")
            page.click("button[type=submit]")
            page.wait_for_url(f"**/l/{j.token}/done")
            content = page.content()
            payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
            payment = reload(session, Payment, payment.id)
            assert shows in content and "¥12,340" in content
            if method == "konbini":
                assert people_datetime(payment.expires_at, "ja", "Asia/Tokyo") in content
                assert "確認番号" in content and "お支払い番号" in content
            else:
                assert "銀行名" in content and "支店名" in content
                # Stripe gives a bank transfer no deadline: the voucher says the invoice's due date
                recipient = reload(session, Recipient, j.recipient_id)
                assert recipient.due_date is None  # so the campaign's due date
                due = session.get(Campaign, recipient.campaign_id).due_date
                assert due is not None
                assert page.locator("p.deadline").inner_text() == f"お支払い期限: {people_date(due, 'ja')}"
            assert page.locator("a", has_text="払込票を表示").count() == 1
            page.screenshot(path=f"{shot}/voucher-{method}.png", full_page=True)

            page.goto(f"{live_server.base_url}/sim/stripe/pending")
            page.locator(f"form[action$='{payment.provider_session_id}'] button[value=paid]").click()
            page.goto(f"{live_server.base_url}/l/{j.token}")
            assert "お支払いありがとうございました" in page.content()
        finally:
            browser.close()
    assert reload(session, Recipient, j.recipient_id).status == "paid"
