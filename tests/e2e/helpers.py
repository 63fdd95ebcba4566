"""Steps that several end-to-end tests take, written once."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots and the app server's log."""


def sign_in(page: Page, base_url: str, email: str, password: str, *, lang: str | None = "ja") -> None:
    """Sign in through the login page. The browser's language choice (the
    ``smspay_lang`` cookie) wins at sign-in and is kept on the user, so a
    browser that has made none says Japanese explicitly: each test's UI
    language is its own, whatever an earlier test chose. ``lang=None``: as
    a browser that never chose (the user's saved language applies)."""
    if lang and not any(c["name"] == "smspay_lang" for c in page.context.cookies(base_url)):
        page.context.add_cookies([{"name": "smspay_lang", "value": lang, "url": base_url}])
    page.goto(f"{base_url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"), timeout=20_000)


def upload(page: Page, name: str, data: bytes, *, confirm: bool = True) -> None:
    """Choose the file, read it, and (when it can be read) confirm the
    suggested column mapping."""
    page.locator("#csv input[type=file]").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    page.locator("#import-button").click()
    if confirm:
        page.locator("#import-confirm").click()


def pay_by_card_in_sandbox(recipient: Page, *, shot: str = "") -> None:
    """From the recipient's invoice page: pay, card and success at the
    sandbox's hosted checkout, back to the thank-you page. ``shot``: also keep
    the checkout page as ``test-artifacts/<shot>``."""
    recipient.locator("form[action$='/pay'] button, form[action$='/pay'] input[type=submit]").first.click()
    expect(recipient).to_have_url(re.compile(r"/sim/stripe/pay/"))
    if shot:
        recipient.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    recipient.locator("input[name=method][value=card]").check()
    recipient.locator("input[name=outcome][value=success]").check()
    recipient.locator("button[type=submit]").click()
    expect(recipient.locator("body")).to_contain_text("ありがとうございました", timeout=20_000)
