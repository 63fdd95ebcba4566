"""Developers page in a real browser against the production build: an admin
creates an API key (secret shown once), uses it with httpx to send a payment
request, registers a webhook endpoint that a real receiver verifies, sees
the delivery in the UI, and revokes the key (the API then refuses it).
Screenshots in Japanese and English."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import expect

from smspay_app.services import webhooks
from tests.e2e.helpers import ARTIFACTS, sign_in

pytestmark = pytest.mark.e2e


def _receiver():
    got: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"thanks")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    return predicate()


def test_admin_creates_a_key_and_a_webhook_and_the_api_works_with_them(app_server, browser):
    server, got = _receiver()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
    page = context.new_page()
    sign_in(page, app_server.base_url, "admin@example.com", "smspay-demo")
    page.goto(f"{app_server.base_url}/developers")
    expect(page.get_by_text("APIキー").first).to_be_visible(timeout=20_000)

    # an API key with all three scopes
    page.locator("#key-name").fill("受注システム")
    page.locator("#scope-manage").click()
    page.locator("#create-key").click()
    secret_box = page.locator("#one-time-secret")
    expect(secret_box).to_contain_text("spk_", timeout=10_000)
    key = secret_box.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "developers-key-secret-ja.png"))
    page.locator("#close-secret").click()
    expect(secret_box).to_have_count(0)
    prefix = key.rsplit("_", 1)[0]
    expect(page.locator(".key-prefix").first).to_have_text(prefix + "_…")
    assert key not in page.content()  # shown once: gone from the page

    # a webhook endpoint for "delivered" (paid and failed are ticked by default)
    page.locator("#hook-url").fill(hook_url)
    page.locator("#event-delivered").click()
    page.locator("#add-endpoint").click()
    expect(secret_box).to_contain_text("whsec_", timeout=10_000)
    hook_secret = secret_box.inner_text().strip()
    page.locator("#close-secret").click()
    expect(page.get_by_text(hook_url)).to_be_visible()

    # the key works over the API: a campaign, then one payment request
    api = httpx.Client(base_url=f"{app_server.base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=15)
    created = api.post(
        "/campaigns",
        json={
            "name": "電話注文 E2E",
            "sms_template": "{{name}}様 お支払いはこちら {{link}}",
            "amount_yen": 3_300,
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    sent = api.post(
        "/payment-requests",
        json={
            "campaign_id": created.json()["id"],
            "recipient": {"phone": "090-5555-0101", "name": "田中", "reference": "TEL-0101"},
        },
        headers={"Idempotency-Key": "tel-0101"},
    )
    assert sent.status_code == 201, sent.text
    rid = sent.json()["id"]
    # the in-app worker sends within seconds; the simulator's callbacks deliver
    status = _wait(lambda: api.get(f"/recipients/{rid}").json()["status"] in ("delivered",) and "delivered")
    assert status == "delivered", api.get(f"/recipients/{rid}").json()

    # the outbound webhook arrives, signed
    assert _wait(lambda: got, 30), "no webhook received"
    headers, body = got[0]
    assert webhooks.verify(hook_secret, headers, body)
    assert b'"recipient.delivered"' in body and b"TEL-0101" in body

    page.locator("#refresh-deliveries").click()
    expect(page.locator(".delivery-row").first).to_contain_text("配信済み", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "developers-ja.png"), full_page=True)

    # English
    context.add_cookies([{"name": "smspay_lang", "value": "en", "url": app_server.base_url}])
    page.goto(f"{app_server.base_url}/developers")
    expect(page.get_by_text("API keys").first).to_be_visible(timeout=20_000)
    expect(page.locator(".delivery-row").first).to_contain_text("delivered")
    page.screenshot(path=str(ARTIFACTS / "developers-en.png"), full_page=True)

    # revoke: the API refuses the key from now on
    page.locator(".revoke-key").first.click()
    expect(page.get_by_text("Revoked").first).to_be_visible(timeout=10_000)
    refused = api.get(f"/recipients/{rid}", headers={"Accept-Language": "en"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    api.close()
    context.close()
    server.shutdown()
