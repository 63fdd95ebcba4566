"""Scanner-proof clicks, lockout, one-time codes (frozen clock), link states,
rate limit, and the size and headers of every recipient page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain import clock, user_agents
from smspay_app.models import Link, Recipient, TimelineEvent
from smspay_app.services import journey
from smspay_app.services.links import issue_link
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, kinds, reload

PREVIEW_AGENTS = [
    # iMessage link previews
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
    "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Line/13.5.0",  # LINE's fetcher
    "LINE-Link-Preview/1.0",
    "Mozilla/5.0 (compatible; Linespider/1.1; +https://lin.ee/4dwXkTH)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/51.0.2704.79 Safari/537.36 BingPreview/1.0b",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "",
]

PERSON_AGENTS = {
    BROWSER_UA: "mobile",
    # LINE's in-app browser is a person
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Safari Line/13.16.0": "mobile",
    "DoCoMo/2.0 P903i(c100;TB;W24H12)": "feature_phone",
    "KDDI-CA3B UP.Browser/6.2_7.2.7.1.K.2.230 (GUI) MMP/2.0": "feature_phone",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36": "desktop",
}


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    yield


def test_user_agent_classes():
    for ua in PREVIEW_AGENTS:
        assert user_agents.classify(ua) == "preview", ua
    for ua, expected in PERSON_AGENTS.items():
        assert user_agents.classify(ua) == expected, ua


def test_previews_and_heads_never_count_as_click(live_server, session):
    j = make_journey(session)
    with live_server.client() as c:
        for ua in PREVIEW_AGENTS:
            assert c.get(f"/l/{j.token}", headers={"User-Agent": ua}).status_code == 200
        for ua in (BROWSER_UA, *PREVIEW_AGENTS[:3]):
            head = c.head(f"/l/{j.token}", headers={"User-Agent": ua})
            assert head.status_code == 200 and head.content == b""
        # a person's GET is a visit, still not a click
        assert c.get(f"/l/{j.token}", headers={"User-Agent": BROWSER_UA}).status_code == 200
    r = reload(session, Recipient, j.recipient_id)
    assert r.clicked_at is None and r.status == "delivered"
    assert reload(session, Link, j.link_id).clicked_at is None
    k = kinds(session, j.recipient_id)
    assert "click" not in k and "preview" in k and "visit" in k
    details = [e.detail for e in session.exec(select(TimelineEvent).where(TimelineEvent.kind == "preview"))]
    assert any('"method": "HEAD"' in d for d in details)
    assert all("Mozilla" not in d and "curl" not in d for d in details)  # class only, no raw agent

    # the first POST is the click, exactly once
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        q1, q2 = j.question_ids
        c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "x", f"q_{q2}": "1"})
        c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "y", f"q_{q2}": "2"})
    r = reload(session, Recipient, j.recipient_id)
    assert r.clicked_at is not None and r.status == "clicked"
    assert kinds(session, j.recipient_id).count("click") == 1


def test_sixth_wrong_answer_finds_link_locked(live_server, session):
    j = make_journey(session)
    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        statuses = []
        for i in range(5):
            r = c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1970/1/1", f"q_{q2}": str(i)})
            statuses.append(r.status_code)
        assert statuses == [303] * 5  # post/redirect/get (issue 14); was 200 on the POST URL, then 403
        sixth = c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}, follow_redirects=True)
        assert sixth.status_code == 403 and "ロックされています" in sixth.text
        assert all("smspay_s" not in r.headers.get("set-cookie", "") for r in [*sixth.history, sixth])
        assert "03-1234-5678" in sixth.text  # how to reach the business
        assert c.get(f"/l/{j.token}").status_code == 403
    link = reload(session, Link, j.link_id)
    r = reload(session, Recipient, j.recipient_id)
    assert link.locked_at is not None and link.failed_attempts == 5
    assert r.status == "locked" and r.locked_at is not None and r.verified_at is None
    assert kinds(session, j.recipient_id).count("locked") == 1


def test_custom_lockout_threshold(session, settings):
    j = make_journey(session, max_wrong_answers=2)
    ctx = journey.load_context(session, j.token)
    assert journey.verify_answers(session, ctx, {}).reason == "wrong"
    assert journey.verify_answers(session, ctx, {j.question_ids[0]: "1980-01-02"}).reason == "locked"
    ctx = journey.load_context(session, j.token)
    correct = {j.question_ids[0]: "1980-01-02", j.question_ids[1]: "123456"}
    assert journey.verify_answers(session, ctx, correct).reason == "locked"


def test_otp_rules_with_frozen_clock(session, settings):
    with clock.frozen(datetime(2030, 1, 1, 9, 0, 0)):  # the link is live at the frozen time
        j = make_journey(session, verification_mode="otp", answers={})
    sent: list[str] = []
    codes = iter(["111111", "222222", "333333", "444444", "555555", "666666"])

    def request_otp(session, ctx):
        return journey.request_otp(
            session, ctx, send=lambda recipient, text: sent.append(text), new_code=lambda: next(codes)
        )

    start = datetime(2030, 1, 1, 9, 0, 0)
    with clock.frozen(start) as clk:
        ctx = journey.load_context(session, j.token)
        assert journey.verify_otp(session, ctx, "111111").reason == "no_code"
        assert request_otp(session, ctx).sent
        assert "111111" in sent[-1] and "10" in sent[-1]
        # resend cooldown 60 s
        clk.tick(timedelta(seconds=59))
        again = request_otp(session, ctx)
        assert (again.sent, again.reason, again.wait_seconds) == (False, "cooldown", 1)
        # valid for 10 minutes at most
        clk.set(start + timedelta(minutes=10, seconds=1))
        assert journey.verify_otp(session, ctx, "111111").reason == "expired_code"
        # a new code; 5 tries per code, then it is dead even if right
        assert request_otp(session, ctx).sent  # 222222
        results = [journey.verify_otp(session, ctx, "000000").reason for _ in range(5)]
        assert results == ["wrong"] * 4 + ["too_many_tries"]
        assert journey.verify_otp(session, ctx, "222222").reason in ("no_code", "too_many_tries")
        # single use
        clk.tick(timedelta(seconds=61))
        assert request_otp(session, ctx).sent  # 333333
        ok = journey.verify_otp(session, ctx, "３３３３３３")  # full-width digits accepted
        assert ok.ok and ok.session_token
        assert journey.verify_otp(session, ctx, "333333").reason == "no_code"
        # cap: 5 sends per link
        for _ in range(2):
            clk.tick(timedelta(seconds=61))
            assert request_otp(session, ctx).sent
        clk.tick(timedelta(seconds=61))
        assert request_otp(session, ctx).reason == "cap"
        assert len(sent) == 5
        # the last code's tries used up with no sends left: the link locks
        results = [journey.verify_otp(session, ctx, "000000").reason for _ in range(5)]
        assert results[-1] == "locked"
        session.commit()
    assert reload(session, Link, j.link_id).locked_at is not None
    assert reload(session, Recipient, j.recipient_id).status == "locked"


def test_otp_uses_the_injected_sender_and_code_and_a_failed_send_leaves_no_usable_code(session, settings):
    with clock.frozen(datetime(2030, 1, 1, 9, 0, 0)):  # the link is live at the frozen time
        j = make_journey(session, verification_mode="otp", answers={})
    sent: list[tuple[str, str]] = []

    def failing(recipient, text):
        raise ConnectionError("provider down")

    with clock.frozen(datetime(2030, 1, 1, 9, 0, 0)) as clk:
        ctx = journey.load_context(session, j.token)
        result = journey.request_otp(session, ctx, send=failing, new_code=lambda: "424242")
        assert (result.sent, result.reason) == (False, "failed")
        assert journey.verify_otp(session, ctx, "424242").reason == "no_code"
        assert kinds(session, j.recipient_id).count("otp_failed") == 1
        clk.tick(timedelta(seconds=61))
        ctx = journey.load_context(session, j.token)
        send = lambda recipient, text: sent.append((recipient.phone_e164, text))  # noqa: E731
        assert journey.request_otp(session, ctx, lang="en", send=send, new_code=lambda: "135790").sent
        [(phone, text)] = sent
        assert phone == ctx.recipient.phone_e164 and "135790" in text
        assert journey.verify_otp(session, ctx, "135790").ok


def test_the_default_code_is_six_random_digits():
    codes = {journey.new_otp_code() for _ in range(200)}
    assert all(len(c) == journey.OTP_DIGITS and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_otp_over_http_through_sms_simulator(live_server, session, settings):
    j = make_journey(session, verification_mode="otp", answers={})
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        page = c.get(f"/l/{j.token}")
        send = form_to(page.text, "/otp")
        sent = c.post(send["action"], data=send["fields"], follow_redirects=True)  # PRG (issue 14)
        assert "確認コードをSMSで送りました" in sent.text
        cooldown = c.post(send["action"], data=send["fields"], follow_redirects=True)
        assert "秒後にできます" in cooldown.text
        listing = c.get(
            f"/sim/twilio/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
            params={"To": "+819012345678"},
            auth=(settings.twilio_account_sid, settings.twilio_auth_token),
        ).json()["messages"]
        assert len(listing) == 1  # the cooldown sent nothing
        code = re.search(r"\b(\d{6})\b", listing[0]["body"]).group(1)
        form = form_to(sent.text, "/verify")
        wrong = c.post(form["action"], data={"code": "000000" if code != "000000" else "111111"}, follow_redirects=True)
        assert "確認コードが違います" in wrong.text
        ok = c.post(form["action"], data={"code": code})
        assert ok.status_code == 303
        assert "¥12,340" in c.get(f"/l/{j.token}").text
    r = reload(session, Recipient, j.recipient_id)
    assert r.verified_at is not None and r.clicked_at is not None
    assert code not in "".join(e.detail for e in session.exec(select(TimelineEvent)))


def test_an_account_error_on_a_one_time_code_pauses_the_organisations_sending(live_server, session, settings):
    """Issue 11: a rotated auth token (401, 20003) refusing the one-time code's
    SMS is the account's fault, not the recipient's: the organisation's sending
    stops and its campaigns are paused with the reason, as the dispatcher does,
    instead of failing every code quietly."""
    from smspay_app.models import Campaign, Organisation

    j = make_journey(session, verification_mode="otp", answers={})
    session.commit()
    with live_server.client() as c:
        assert c.post("/sim/twilio/_control", json={"auth_token": "rotated-in-console"}).status_code == 200
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        page = c.get(f"/l/{j.token}")
        send = form_to(page.text, "/otp")
        failed = c.post(send["action"], data=send["fields"])
        assert "確認コードをSMSで送りました" not in failed.text
    session.expire_all()
    recipient = session.get(Recipient, j.recipient_id)
    campaign = session.get(Campaign, recipient.campaign_id)
    assert (campaign.status, campaign.paused_reason) == ("paused", "sending.paused.account_error")
    assert session.get(Organisation, recipient.organisation_id).sending_paused_reason == "sending.paused.account_error"
    assert "otp_failed" in kinds(session, recipient.id)


def test_expired_revoked_pages_show_business_contact(live_server, session):
    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        with clock.frozen(clock.utcnow() + timedelta(hours=73)):
            expired = c.get(f"/l/{j.token}")
        assert expired.status_code == 410 and "有効期限が切れています" in expired.text
        assert "テスト電力株式会社" in expired.text and "tel:0312345678" in expired.text
        recipient = session.get(Recipient, j.recipient_id)
        _, fresh = issue_link(session, recipient, 72)
        session.commit()
        revoked = c.get(f"/l/{j.token}?lang=en")  # Japanese campaign: English by choice (item 11)
        assert revoked.status_code == 410 and "no longer valid" in revoked.text
        assert "12,340" not in revoked.text and "山田" not in revoked.text
        assert c.get(f"/l/{fresh}").status_code == 200


def test_session_expires_after_30_minutes(live_server, session):
    j = make_journey(session)
    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        assert c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}).status_code == 303
        assert "¥12,340" in c.get(f"/l/{j.token}").text
        with clock.frozen(clock.utcnow() + timedelta(minutes=31)):
            later = c.get(f"/l/{j.token}")
        assert "¥12,340" not in later.text and "ご本人確認" in later.text
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as other:
        other.cookies.set("smspay_s", "A" * 22, path="/l/")
        assert "¥12,340" not in other.get(f"/l/{j.token}").text


def test_notice_only_with_read_confirmation(live_server, session):
    j = make_journey(session, payment_enabled=False, ask_read_confirmation=True, answers={})
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        page = c.get(f"/l/{j.token}")
        go = form_to(page.text, "/verify")
        assert c.post(go["action"], data=go["fields"]).status_code == 303
        message = c.get(f"/l/{j.token}")
        assert "山田太郎様" in message.text and "/pay" not in message.text
        read = form_to(message.text, "/read")
        done = c.post(read["action"], data=read["fields"], follow_redirects=True)  # PRG (issue 14)
        assert "確認ありがとうございました" in done.text
        c.post(read["action"], data=read["fields"])
    r = reload(session, Recipient, j.recipient_id)
    assert r.read_at is not None and r.status == "read"
    assert kinds(session, j.recipient_id).count("read") == 1


def test_post_rate_limit_per_address(live_server, session):
    make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        codes = [c.post("/l/AAAAAAAAAAAAAAAAAAAAAA/verify", data={}).status_code for _ in range(31)]
    assert codes[:30] == [404] * 30 and codes[30] == 429


def test_every_page_is_small_with_security_headers(live_server, session):
    pages = []
    j = make_journey(session)
    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        pages.append(c.get("/l/AAAAAAAAAAAAAAAAAAAAAA"))
        pages.append(c.get(f"/l/{j.token}"))
        pages.append(c.get(f"/l/{j.token}?lang=en"))
        pages.append(c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1", f"q_{q2}": "1"}, follow_redirects=True))
        c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
        pages.append(c.get(f"/l/{j.token}"))
        pages.append(c.get(f"/l/{j.token}/done"))
        pages.append(c.get(f"/l/{j.token}/cancelled"))
        for _ in range(5):
            c.post(f"/l/{j.token}/verify", data={})
        pages.append(c.get(f"/l/{j.token}"))  # locked
    assert pages[2].headers.get("set-cookie", "").startswith("smspay_lang=en")
    assert "Identity check" in pages[2].text
    for response in pages:
        assert len(response.content) <= 15 * 1024, response.url
        h = response.headers
        assert h["referrer-policy"] == "no-referrer"
        assert "no-store" in h["cache-control"]
        assert h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "<script" not in response.text.lower()
        assert "山田" not in response.url.path and "+81" not in str(response.url)
    assert {p.status_code for p in pages} == {404, 200, 403}
