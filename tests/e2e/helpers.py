"""Steps that several end-to-end tests take, written once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"), timeout=20_000)
