"""Benchmark: the size of every recipient page (issue 14: at most 8 KB for
typical content, never over 15 KB), as a feature phone (P903i, Shift_JIS,
no cookies) and a smartphone (UTF-8, cookies) receive it, in Japanese and
English, with typical content (the test factory's campaign) and with the
largest content the editor and the API accept (a 5,000-character page
message of wide characters, a 200-character title, 20 invoice lines, long
names). Starts the web app on a fresh migrated SQLite database (uvicorn in
a thread, the built-in SMS simulator and payment sandbox mounted) and walks
every page with plain HTTP.

Targets: every page <= 15 KB; typical content <= 8 KB.

    python bench/bench_page_sizes.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

P903I = "DoCoMo/2.0 P903i(c100;TB;W24H12)"
SMARTPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
TYPICAL_LIMIT = 8 * 1024
HARD_LIMIT = 15 * 1024


def make_largest(session, journey) -> None:
    """Turn a factory journey into the largest content the API and editor accept."""
    from sqlmodel import select

    from smspay_app.domain.page_text import PAGE_MESSAGE_MAX_CHARS
    from smspay_app.models import Campaign, InvoiceLine, Organisation, Recipient
    from smspay_app.services.campaigns import MAX_INVOICE_LINES

    campaign = session.get(Campaign, journey.campaign_id)
    line = "ご利用料金の明細とお支払い方法についてのご案内です。よくお読みください。" * 3 + "\n"
    campaign.page_message = (line * (PAGE_MESSAGE_MAX_CHARS // len(line) + 1))[:PAGE_MESSAGE_MAX_CHARS]
    campaign.page_title = ("長いご請求のタイトル" * 20)[:200]
    for old in session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id)):
        session.delete(old)
    session.flush()
    for i in range(MAX_INVOICE_LINES):
        session.add(
            InvoiceLine(
                campaign_id=campaign.id,
                position=i,
                item=("とても長い品目名の明細行" * 10)[:100],
                quantity=1,
                unit_price_yen=617,
            )
        )
    campaign.amount_yen = 617 * MAX_INVOICE_LINES
    org = session.get(Organisation, journey.organisation_id)
    org.name = ("株式会社とても長い名前の電力会社" * 5)[:80]
    recipient = session.get(Recipient, journey.recipient_id)
    recipient.amount_yen = campaign.amount_yen
    recipient.name = "山田太郎右衛門左衛門"
    recipient.merge_data = json.dumps({"name": recipient.name}, ensure_ascii=False)
    session.commit()


class Walker:
    """One browser: records each page it receives (name, bytes)."""

    def __init__(self, base_url: str, ua: str, *, cookies: bool) -> None:
        import httpx

        jar = CookieJar() if cookies else CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self.client = httpx.Client(base_url=base_url, headers={"User-Agent": ua}, cookies=jar, timeout=15)
        self.sjis = ua == P903I
        self.rows: list[tuple[str, int]] = []

    def text(self, response) -> str:
        return response.content.decode("cp932" if self.sjis else "utf-8")

    def get(self, name: str, url: str) -> str:
        response = self.client.get(url)
        if response.status_code == 303:
            response = self.client.get(response.headers["location"])
        self.rows.append((name, len(response.content)))
        return self.text(response)

    def post(self, url: str, fields: dict[str, str]) -> str:
        codec = "cp932" if self.sjis else "utf-8"
        body = "&".join(f"{quote_plus(k)}={quote_plus(v, encoding=codec)}" for k, v in fields.items())
        response = self.client.post(
            url, content=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 303, (url, response.status_code)
        return response.headers["location"]


def _form(html: str, suffix: str, **values: str) -> tuple[str, dict[str, str]]:
    from tests.helpers import form_to

    form = form_to(html, suffix)
    return form["action"], {**dict(form["fields"]), **values}


def walk(base_url: str, session, new_journey: Callable[..., object], *, largest: bool) -> list[tuple[str, int]]:
    """Every recipient page for each browser and language; rows of
    (browser/lang/page, bytes). ``new_journey(**kw)`` makes a factory journey."""
    from sqlmodel import select

    from smspay_app.models import Link, Payment
    from smspay_app.services import journey as journey_service
    from smspay_app.web import recipient as recipient_web

    rows: list[tuple[str, int]] = []
    counter = iter(range(10_000))

    def fresh(**kw):
        recipient_web.post_limiter.reset()
        journey_service.reset_visit_dedup()
        j = new_journey(phone=f"+8190{next(counter):04d}{int(time.time()) % 10_000:04d}", **kw)
        if largest:
            make_largest(session, j)
        session.commit()
        return j

    for ua, cookies, who in ((P903I, False, "P903i"), (SMARTPHONE, True, "smartphone")):
        for lang in ("ja", "en"):
            w = Walker(base_url, ua, cookies=cookies)
            q = f"?lang={lang}"
            w.get("404", f"/l/AAAAAAAAAAAAAAAAAAAAAA{q}")
            j = fresh()
            page = w.get("identity", f"/l/{j.token}{q}")
            q1, q2 = j.question_ids
            action, fields = _form(page, "/verify", **{f"q_{q1}": "1970/01/01", f"q_{q2}": "1"})
            w.get("wrong answer", w.post(action, fields))
            action, fields = _form(page, "/verify", **{f"q_{q1}": "1980/01/02", f"q_{q2}": "123456"})
            base = w.post(action, fields).split("?")[0]
            message = w.get("message (part 1)", f"{base}{q}")
            part = 1
            while f"p={part + 1}" in message:
                part += 1
                message = w.get(f"message (part {part})", f"{base}?p={part}&lang={lang}")
            w.get("cancelled", f"{base}/cancelled{q}")
            route = w.get("voucher route", f"{base}/voucher{q}")
            action, fields = _form(route, "/voucher", payer_email="taro@docomo.ne.jp")
            w.get("voucher (konbini)", w.post(action, dict(fields, method="konbini")))
            session.expire_all()
            payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
            import httpx

            with httpx.Client(base_url=base_url) as tester:
                tester.post(f"/sim/stripe/pending/{payment.provider_session_id}", data={"result": "paid"})
            w.get("done (paid)", f"{base}/done{q}")
            j = fresh()
            page = w.get("identity", f"/l/{j.token}{q}")
            a, b = j.question_ids
            action, fields = _form(page, "/verify", **{f"q_{a}": "x", f"q_{b}": "1"})
            for _ in range(5):  # the fifth locks the link (403 on the POST itself)
                w.client.post(action, data=fields)
            w.get("locked", f"/l/{j.token}{q}")
            j = fresh()
            page = w.get("identity", f"/l/{j.token}{q}")
            a, b = j.question_ids
            action, fields = _form(page, "/verify", **{f"q_{a}": "1980/01/02", f"q_{b}": "123456"})
            base = w.post(action, fields).split("?")[0]
            w.get("voucher (bank)", w.post(f"{base}/voucher", {"method": "bank_transfer", "lang": lang}))
            j = fresh(verification_mode="otp", answers={})
            page = w.get("OTP (send)", f"/l/{j.token}{q}")
            action, fields = _form(page, "/otp")
            w.get("OTP (code)", w.post(action, fields))
            j = fresh()
            link = session.get(Link, j.link_id)
            link.expires_at = link.expires_at.replace(year=2000)
            session.commit()
            w.get("expired", f"/l/{j.token}{q}")
            rows += [(f"{who}/{lang}/{name}", size) for name, size in w.rows]
            w.client.close()
    return rows


def report(title: str, rows: list[tuple[str, int]], limit: int) -> bool:
    print(f"\n{title} (limit {limit // 1024} KB)")
    seen: dict[str, int] = {}
    for name, size in rows:
        seen[name] = max(size, seen.get(name, 0))
    for name, size in seen.items():
        print(f"  {name:<44} {size / 1024:6.1f} KB{'  OVER' if size > limit else ''}")
    largest = max(seen.values())
    print(f"  largest: {largest / 1024:.1f} KB")
    return largest <= limit


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="smspay-pages-")
    from tests.helpers import free_port

    port = free_port()
    os.environ.update(
        SMSPAY_DATABASE_URL=f"sqlite:///{tmp}/pages.db",
        SMSPAY_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SMSPAY_SECRET_KEY="bench-secret-key",
        SMSPAY_RUN_WORKER_IN_APP="false",
    )
    import uvicorn
    from sqlmodel import Session

    from smspay_app.db import get_engine
    from smspay_app.migrate import upgrade_database
    from smspay_app.web.app import build_web_app
    from tests.factories import make_journey

    upgrade_database()
    server = uvicorn.Server(uvicorn.Config(build_web_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base_url = f"http://127.0.0.1:{port}"
    with Session(get_engine(), expire_on_commit=False) as session:
        ok_typical = report(
            "Typical content",
            walk(base_url, session, lambda **kw: make_journey(session, **kw), largest=False),
            TYPICAL_LIMIT,
        )
        ok_largest = report(
            "Largest accepted content",
            walk(base_url, session, lambda **kw: make_journey(session, **kw), largest=True),
            HARD_LIMIT,
        )
    server.should_exit = True
    print(f"\ntypical <= 8 KB: {'yes' if ok_typical else 'NO'}; every page <= 15 KB: {'yes' if ok_largest else 'NO'}")
    return 0 if ok_typical and ok_largest else 1


if __name__ == "__main__":
    sys.exit(main())
