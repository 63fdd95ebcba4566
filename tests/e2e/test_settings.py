"""Settings in Chromium against the production build: an admin turns on TOTP
on the account page (QR, key, first code, recovery codes), signs out and signs
in again with a code; the organisation form saves and names bad input; the
users page adds a user; the language switch turns the whole admin UI into
English and back. Screenshots in both languages go to test-artifacts/."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import ARTIFACTS

pytestmark = pytest.mark.e2e

EMAIL = "totp-admin@example.com"
PASSWORD = "totp admin password"


def _make_admin(app_server) -> None:
    from sqlmodel import select

    from smspay_app.models import Organisation, User
    from smspay_app.services import auth

    with app_server.session() as s:
        if s.exec(select(User).where(User.email == EMAIL)).first() is None:
            org = s.exec(select(Organisation)).first()
            auth.create_user(s, org, EMAIL, PASSWORD, role="admin", display_name="二要素 管理者")
            s.commit()


def _password_step(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-submit").click()


LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


def _switch_language(page: Page, lang: str) -> None:
    page.locator("#lang-select").click()
    page.get_by_role("option", name=LANGUAGE_NAMES[lang], exact=True).click()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_totp_enrolment_and_sign_in_with_a_code(app_server, browser):
    base = app_server.base_url
    _make_admin(app_server)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    _password_step(page, base)
    expect(page).to_have_url(re.compile(r"/campaigns/?$"), timeout=20_000)

    page.locator("#account-link").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    page.locator("#totp-start").click()
    expect(page.locator("#totp-qr")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    _shot(page, "account-totp-enrol-ja")
    page.locator("#totp-confirm-code").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.locator("#totp-confirm").click()
    expect(page.locator("#account-message")).to_contain_text("コードが正しくありません")
    page.locator("#totp-confirm-code").fill(pyotp.TOTP(secret).now())
    page.locator("#totp-confirm").click()
    expect(page.locator("#recovery-codes code")).to_have_count(10)
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    _shot(page, "account-recovery-codes-ja")
    page.locator("#recovery-codes-done").click()
    expect(page.locator("#totp-status")).to_contain_text("10")

    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    _password_step(page, base)
    expect(page.locator("#totp-code")).to_be_visible(timeout=20_000)
    assert re.search(r"/login/?(\?step=code)?$", page.url)  # the challenge step, no session
    # The password alone opens nothing.
    page.goto(f"{base}/settings")
    expect(page).to_have_url(re.compile(r"/login/?$"), timeout=20_000)
    _password_step(page, base)
    page.locator("#totp-code").fill("999999" if pyotp.TOTP(secret).now() != "999999" else "888888")
    page.locator("#totp-submit").click()
    expect(page.locator("#login-error")).to_contain_text("あと4回")
    _shot(page, "login-totp-ja")
    # The next time step's code (the enrolment used the current one; a code works once).
    page.locator("#totp-code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.locator("#totp-submit").click()
    expect(page).to_have_url(re.compile(r"/campaigns/?$"), timeout=20_000)

    # A recovery code works once.
    page.locator("#sign-out").click()
    _password_step(page, base)
    page.locator("#totp-code").fill(codes[0])
    page.locator("#totp-submit").click()
    expect(page).to_have_url(re.compile(r"/campaigns/?$"), timeout=20_000)
    context.close()


def test_settings_forms_and_language_switch(app_server, browser):
    from tests.e2e.helpers import sign_in

    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")

    page.goto(f"{base}/settings")
    expect(page.locator("#f-name")).to_have_value(re.compile(".+"), timeout=20_000)
    page.locator("#f-timezone").fill("Asia/Tokio")
    page.locator("#f-support_phone").fill("0120-111-222")
    page.locator("#f-invoice_registration_number").fill("T1234567890123")  # a wrong check digit
    page.locator("#settings-save").click()
    expect(page.locator("#err-timezone")).to_contain_text("タイムゾーン")
    expect(page.locator("#err-invoice_registration_number")).to_contain_text("登録番号")
    expect(page.locator("#f-support_phone")).to_have_value("0120-111-222")  # nothing typed is lost
    _shot(page, "settings-org-error-ja")
    page.locator("#f-timezone").fill("Asia/Tokyo")
    page.locator("#f-invoice_registration_number").fill("T7010705000725")
    page.locator("#settings-save").click()
    expect(page.locator("#settings-message")).to_contain_text("保存しました")
    _shot(page, "settings-org-ja")
    page.reload()
    expect(page.locator("#f-invoice_registration_number")).to_have_value("T7010705000725", timeout=20_000)

    page.goto(f"{base}/settings/users")
    page.locator("#invite-email").fill("new-operator@example.com")
    page.locator("#invite-name").fill("新人 オペレーター")
    page.locator("#invite-submit").click()
    expect(page.locator("#users-message")).to_contain_text("仮パスワード")
    expect(page.locator("#users-table")).to_contain_text("new-operator@example.com")
    _shot(page, "settings-users-ja")

    # English for the whole admin UI, kept on the user.
    _switch_language(page, "en")
    expect(page.locator("#users-table")).to_contain_text("Deactivate")
    expect(page.locator("#users-message")).to_contain_text("Temporary password for new-operator@example.com")
    expect(page.get_by_role("link", name="Campaigns", exact=True)).to_be_visible()
    _shot(page, "settings-users-en")
    page.goto(f"{base}/settings")
    expect(page.get_by_text("Organisation settings")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Keep personal data for (days)")).to_be_visible()
    _shot(page, "settings-org-en")
    page.goto(f"{base}/account")
    expect(page.get_by_text("Two-factor sign-in (authenticator app)")).to_be_visible(timeout=20_000)
    _shot(page, "account-en")
    page.goto(f"{base}/campaigns")
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible(timeout=20_000)
    # No Japanese UI text left (the organisation's and the user's names are data).
    body = page.locator("body").inner_text()
    from sqlmodel import select

    from smspay_app.models import Campaign

    with app_server.session() as s:
        campaign_names = [c.name for c in s.exec(select(Campaign))]  # other tests' data
    for data in ("デモ商事株式会社", "デモ管理者", "日本語", *campaign_names):
        body = body.replace(data, "")
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", body), body

    # A fresh browser (no language cookie) gets the user's language at sign-in.
    fresh = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    other = fresh.new_page()
    sign_in(other, base, "admin@example.com", "smspay-demo", lang=None)
    expect(other.get_by_role("heading", name="Campaigns")).to_be_visible(timeout=20_000)
    _switch_language(other, "ja")
    expect(other.get_by_role("heading", name="キャンペーン")).to_be_visible()
    other.goto(f"{base}/account")
    expect(other.get_by_text("2段階認証（認証アプリ）")).to_be_visible(timeout=20_000)
    _shot(other, "account-ja")
    fresh.close()
    context.close()


def test_operator_is_kept_out_of_settings(app_server, browser):
    from sqlmodel import select

    from smspay_app.models import Organisation, User
    from smspay_app.services import auth
    from tests.e2e.helpers import sign_in

    with app_server.session() as s:
        if s.exec(select(User).where(User.email == "e2e-operator@example.com")).first() is None:
            auth.create_user(
                s,
                s.exec(select(Organisation)).first(),
                "e2e-operator@example.com",
                "operator password",
                role="operator",
            )
            s.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, app_server.base_url, "e2e-operator@example.com", "operator password")
    expect(page.locator("a[href='/settings']")).to_have_count(0)
    for path in ("/settings", "/settings/users"):
        page.goto(app_server.base_url + path)
        expect(page).to_have_url(re.compile(r"/campaigns/?$"), timeout=20_000)
    page.goto(app_server.base_url + "/account")
    expect(page.locator("#account-email")).to_have_text("e2e-operator@example.com", timeout=20_000)
    context.close()


def test_sign_in_cookie_is_httponly_and_out_of_reach_of_scripts(app_server, browser):
    """Issue 18 item 11: the admin session cookie was readable by
    JavaScript. It is HttpOnly now (set by POST /auth/session): the browser
    has it, ``document.cookie`` does not; signing out clears it."""
    from tests.e2e.helpers import sign_in

    base = app_server.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, base, "admin@example.com", "smspay-demo")
    cookie = next(c for c in context.cookies(base) if c["name"] == "smspay_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert "smspay_session" not in page.evaluate("document.cookie")
    assert cookie["value"] not in page.evaluate("document.cookie")
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"), timeout=20_000)
    deadline = time.monotonic() + 20  # the page's script clears it (POST /auth/sign-out)
    while any(c["name"] == "smspay_session" for c in context.cookies(base)):
        assert time.monotonic() < deadline, "the session cookie was not cleared"
        page.wait_for_timeout(100)
    page.goto(f"{base}/campaigns")
    expect(page).to_have_url(re.compile(r"/login/?$"), timeout=20_000)
    context.close()


def test_login_with_javascript_blocked_posts_and_no_password_in_any_url_or_log(app_server, browser):
    """Issue 17 item 5: with the frontend's JavaScript missing (a proxy
    serving another build's assets), pressing ログイン submitted the bare form
    as a GET: /login/?email=admin%40example.com&password=smspay-demo, the
    password in the URL and the proxy's log. The form posts to
    /auth/session, JavaScript or not."""
    base = app_server.base_url
    password = "smspay-demo"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    page.route(re.compile(r".*\.js(\?.*)?$"), lambda route: route.abort())
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.goto(f"{base}/login")
    page.locator("#email").fill("admin@example.com")
    page.locator("#password").fill(password)
    page.locator("#login-submit").click()
    page.wait_for_load_state()
    deadline = time.monotonic() + 20
    while not any(m == "POST" and u.endswith("/auth/session") for m, u in requests):
        assert time.monotonic() < deadline, requests
        page.wait_for_timeout(100)
    assert any(c["name"] == "smspay_session" for c in context.cookies(base))  # signed in
    urls = [u for _, u in requests] + [page.url]
    assert not [u for u in urls if password in u or "password=" in u], urls
    assert password not in app_server.log_path.read_text()
    assert not any(m == "GET" and "/login?" in u and "email" in u for m, u in requests)
    context.close()
