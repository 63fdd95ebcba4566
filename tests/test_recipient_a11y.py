"""Issue 14: the recipient pages in a real browser. axe-core (the npm
package, installed by scripts/test.sh into .tools/, or SMSPAY_AXE_JS) runs
over every recipient page in Japanese and English: zero WCAG 2.1 AA
violations, ``lang`` right on each. And the whole journey with JavaScript
disabled on a 240x320 screen, paying through the voucher route (screenshots
in test-artifacts/)."""

from __future__ import annotations

import os
import shutil
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import pytest
from sqlmodel import select

from smspay_app.models import Link, Payment, Recipient
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, reload

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "recipient"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _chromium() -> str | None:
    return os.environ.get("SMSPAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _axe() -> Path | None:
    for candidate in (os.environ.get("SMSPAY_AXE_JS"), ROOT / ".tools/node_modules/axe-core/axe.min.js"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


needs_browser = pytest.mark.skipif(_chromium() is None, reason="no chromium on this machine")


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    yield


def _cookieless(live_server):
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return live_server.client(headers={"User-Agent": BROWSER_UA}, cookies=jar)


def _verify(client, j, *, right: bool = True) -> str:
    page = client.get(f"/l/{j.token}").text
    form = form_to(page, "/verify")
    q1, q2 = j.question_ids
    fields = dict(form["fields"], **{f"q_{q1}": "1980/01/02" if right else "1970/01/01", f"q_{q2}": "123456"})
    return client.post(form["action"], data=fields).headers.get("location", "").split("?")[0]


def _recipient_pages(live_server, session) -> list[tuple[str, str]]:
    """(name, path) of every recipient page, prepared over plain HTTP; the
    verified ones carry their session in the URL (no cookie needed)."""
    pages = [("404", "/l/AAAAAAAAAAAAAAAAAAAAAA")]
    with _cookieless(live_server) as c:
        j = make_journey(session)
        session.commit()
        pages.append(("identity", f"/l/{j.token}"))
        pages.append(("wrong answer", _verify(c, j, right=False) + "?e=wrong"))
        base = _verify(c, j)
        pages += [("message", base), ("cancelled", f"{base}/cancelled"), ("voucher route", f"{base}/voucher")]
        route = c.get(f"{base}/voucher").text
        konbini = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "konbini")
        c.post(konbini["action"], data=dict(konbini["fields"], payer_email="taro@example.jp"))
        pages.append(("voucher", base))
        paid = make_journey(session, phone="+819011110000")
        session.commit()
        paid_base = _verify(c, paid)
        route = c.get(f"{paid_base}/voucher").text
        bank = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "bank_transfer")
        c.post(bank["action"], data=bank["fields"])
        session.expire_all()
        payment = session.exec(select(Payment).where(Payment.recipient_id == paid.recipient_id)).one()
        c.post(f"/sim/stripe/pending/{payment.provider_session_id}", data={"result": "paid"})
        pages.append(("done", f"{paid_base}/done"))
        locked = make_journey(session, phone="+819011110001")
        session.commit()
        for _ in range(5):
            _verify(c, locked, right=False)
        pages.append(("locked", f"/l/{locked.token}"))
        otp = make_journey(session, phone="+819011110002", verification_mode="otp", answers={})
        session.commit()
        pages.append(("OTP (send)", f"/l/{otp.token}"))
        send = form_to(c.get(f"/l/{otp.token}").text, "/otp")
        pages.append(("OTP (code)", c.post(send["action"], data=send["fields"]).headers["location"]))
        expired = make_journey(session, phone="+819011110003")
        link = session.get(Link, expired.link_id)
        link.expires_at = link.expires_at.replace(year=2000)
        session.commit()
        pages.append(("expired", f"/l/{expired.token}"))
    return pages


def _forms(html: str) -> list[dict]:
    from tests.helpers import forms_of

    return forms_of(html)


@needs_browser
@pytest.mark.skipif(_axe() is None, reason="axe-core not installed (scripts/test.sh installs it into .tools/)")
def test_axe_finds_no_wcag_21_aa_violation_on_any_recipient_page(live_server, session):
    from playwright.sync_api import sync_playwright

    pages = _recipient_pages(live_server, session)
    axe = str(_axe())
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            # the pages forbid scripts (CSP): axe is injected by the test only
            context = browser.new_context(
                bypass_csp=True, user_agent=BROWSER_UA, viewport={"width": 360, "height": 640}
            )
            page = context.new_page()
            for lang in ("ja", "en"):
                for name, path in pages:
                    sep = "&" if "?" in path else "?"
                    page.goto(f"{live_server.base_url}{path}{sep}lang={lang}")
                    assert page.locator("html").get_attribute("lang") == lang, (name, lang)
                    page.add_script_tag(path=axe)
                    result = page.evaluate(
                        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
                    )
                    problems = [
                        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
                        for v in result["violations"]
                    ]
                    if problems:
                        found[f"{lang}/{name}"] = problems
                    assert result["passes"], (name, "axe ran no check")
        finally:
            browser.close()
    assert not found, found
    assert len(pages) >= 12


@needs_browser
def test_journey_without_javascript_at_240x320_through_the_voucher_route(live_server, session):
    from playwright.sync_api import sync_playwright

    j = make_journey(session)
    session.commit()
    q1, q2 = j.question_ids
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            context = browser.new_context(
                java_script_enabled=False, locale="ja-JP", viewport={"width": 240, "height": 320}, user_agent=BROWSER_UA
            )
            page = context.new_page()
            page.goto(f"{live_server.base_url}/l/{j.token}")
            page.screenshot(path=str(ARTIFACTS / "1-identity.png"), full_page=True)
            page.fill(f"#q{q1}", "S55.1.2")
            page.fill(f"#q{q2}", "123456")
            page.click("form[action$='/verify'] button[type=submit]")
            assert "¥12,340" in page.content()
            page.screenshot(path=str(ARTIFACTS / "2-message.png"), full_page=True)
            page.click("a[href*='/voucher']")
            page.screenshot(path=str(ARTIFACTS / "3-voucher-route.png"), full_page=True)
            page.fill("#payer_email", "taro@docomo.ne.jp")
            page.click("form:has(input[value=konbini]) button[type=submit]")
            assert "ローソン" in page.content() and "お支払い期限" in page.content()
            page.screenshot(path=str(ARTIFACTS / "4-voucher.png"), full_page=True)
            session.expire_all()
            payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
            tester = context.new_page()
            tester.goto(f"{live_server.base_url}/sim/stripe/pending")
            tester.click(f"form[action$='{payment.provider_session_id}'] button[value=paid]")
            page.reload()
            assert "お支払いありがとうございました" in page.content()
            page.screenshot(path=str(ARTIFACTS / "5-paid.png"), full_page=True)
        finally:
            browser.close()
    assert reload(session, Recipient, j.recipient_id).status == "paid"


@needs_browser
def test_every_page_is_usable_within_two_seconds_on_a_slow_network(live_server, session, capsys):
    """Chromium throttled to about 400 kbit/s with a 400 ms round trip (CDP
    Network.emulateNetworkConditions): each recipient page of the journey,
    to the paid receipt through the voucher route, loads in under 2 s."""
    import time

    from playwright.sync_api import sync_playwright

    j = make_journey(session)
    session.commit()
    q1, q2 = j.question_ids
    timings: list[tuple[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        try:
            context = browser.new_context(
                java_script_enabled=False, locale="ja-JP", viewport={"width": 240, "height": 320}, user_agent=BROWSER_UA
            )
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8},
            )

            def timed(name: str, action) -> None:
                started = time.perf_counter()
                action()
                page.wait_for_load_state("load")
                timings.append((name, time.perf_counter() - started))

            timed("identity", lambda: page.goto(f"{live_server.base_url}/l/{j.token}"))
            page.fill(f"#q{q1}", "1980/01/02")
            page.fill(f"#q{q2}", "123456")
            timed("answers -> message", lambda: page.click("form[action$='/verify'] button[type=submit]"))
            assert "¥12,340" in page.content()
            timed("voucher route", lambda: page.click("a[href*='/voucher']"))
            page.fill("#payer_email", "taro@example.jp")
            timed("konbini -> voucher", lambda: page.click("form:has(input[value=konbini]) button[type=submit]"))
            assert "お支払い期限" in page.content()
            session.expire_all()
            payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
            import httpx

            httpx.post(
                f"{live_server.base_url}/sim/stripe/pending/{payment.provider_session_id}", data={"result": "paid"}
            )
            timed("paid", lambda: page.reload())
            assert "お支払いありがとうございました" in page.content()
            timed("invoice", lambda: page.click("#invoice-links a >> nth=0"))
        finally:
            browser.close()
    with capsys.disabled():
        print("\nrecipient pages at ~400 kbit/s, 400 ms RTT:")
        for name, seconds in timings:
            print(f"  {name:<22} {seconds:5.2f} s")
    slow = [(name, round(s, 2)) for name, s in timings if s >= 2.0]
    assert not slow, slow
    assert reload(session, Recipient, j.recipient_id).status == "paid"
