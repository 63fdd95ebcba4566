"""Issue 14: every phone finishes the journey. Feature-phone browsers over
plain HTTP: no cookie kept (the i-mode browser of the P903i keeps none),
forms posted in Shift_JIS (older handsets), no JavaScript."""

from __future__ import annotations

import json
import logging
import re
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import pytest

from smspay_app.models import Link, Recipient
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, reload

P903I = "DoCoMo/2.0 P903i(c100;TB;W24H12)"
KDDI = "KDDI-SA3B UP.Browser/6.2_7.2.7.1.K.2.234 (GUI) MMP/2.0"


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    yield


def cookieless(live_server, ua: str = P903I) -> httpx.Client:
    """A plain HTTP client that keeps no cookie at all (every Set-Cookie refused)."""
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return live_server.client(headers={"User-Agent": ua}, cookies=jar)


def _answers(page: str, j, birth: str = "昭和55年1月2日", number: str = "123456") -> tuple[str, dict]:
    form = form_to(page, "/verify")
    fields = dict(form["fields"])
    q_birth, q_number = j.question_ids
    fields[f"q_{q_birth}"] = birth
    fields[f"q_{q_number}"] = number
    return form["action"], fields


def test_a_phone_without_cookies_reaches_the_message(live_server, session):
    j = make_journey(session)
    with cookieless(live_server) as phone:
        landing = phone.get(f"/l/{j.token}")
        assert landing.status_code == 200 and "ご本人確認" in landing.text
        action, fields = _answers(landing.text, j)
        verified = phone.post(action, data=fields)
        assert verified.status_code == 303
        location = verified.headers["location"]
        # the session travels in the URL: an opaque 128-bit value after the token
        assert re.fullmatch(rf"/l/{j.token}\.[0-9a-f]{{32}}", location), location
        url_session = location.rsplit(".", 1)[1]
        assert url_session not in verified.headers.get("set-cookie", "")
        message = phone.get(location)
        assert message.status_code == 200
        assert "山田太郎様" in message.text and "12,340" in message.text
        assert message.headers["referrer-policy"] == "no-referrer"
        # every form and link of the page keeps the session
        assert f'href="/l/{j.token}.{url_session}/voucher?lang=ja"' in message.text
        assert f'href="/l/{j.token}.{url_session}/invoice"' in message.text
        assert phone.get(location).status_code == 200  # a reload is a GET: nothing resent
        assert not phone.cookies  # it really kept nothing
        # bound to this link: the same value on another link is nothing
        other = make_journey(session, phone="+819011112222")
        session.commit()
        elsewhere = phone.get(f"/l/{other.token}.{url_session}")
        assert "12,340" not in elsewhere.text and "ご本人確認" in elsewhere.text
    r = reload(session, Recipient, j.recipient_id)
    assert r.verified_at is not None and r.clicked_at is not None


def test_the_url_session_is_used_only_when_no_cookie_came_back(live_server, session):
    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        landing = browser.get(f"/l/{j.token}")
        action, fields = _answers(landing.text, j)
        verified = browser.post(action, data=fields)
        # the browser returned the identity page's cookie: a clean URL, the cookie carries the session
        assert verified.headers["location"] == f"/l/{j.token}"
        assert "12,340" in browser.get(f"/l/{j.token}").text
    with cookieless(live_server) as phone:
        action, fields = _answers(phone.get(f"/l/{j.token}").text, j)
        location = phone.post(action, data=fields).headers["location"]
    # a browser that does send a cookie (a stale one) is not let in by the URL
    with live_server.client(headers={"User-Agent": BROWSER_UA}, cookies={"smspay_s": "stale"}) as stale:
        page = stale.get(location)
        assert "12,340" not in page.text and "ご本人確認" in page.text
    # and a browser whose cookie is good is sent to the clean URL
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        action, fields = _answers(browser.get(f"/l/{j.token}").text, j)
        browser.post(action, data=fields)
        session.expire_all()
        value = journey.url_session_value(journey.load_context(session, j.token))
        back = browser.get(f"/l/{j.token}.{value}")
        assert back.status_code == 303 and back.headers["location"] == f"/l/{j.token}"


def test_the_url_session_ends_with_the_session(live_server, session):
    j = make_journey(session)
    with cookieless(live_server) as phone:
        action, fields = _answers(phone.get(f"/l/{j.token}").text, j)
        location = phone.post(action, data=fields).headers["location"]
        assert "12,340" in phone.get(location).text
        link = reload(session, Link, j.link_id)
        link.session_expires_at = link.session_expires_at.replace(year=2000)
        session.add(link)
        session.commit()
        later = phone.get(location)
        assert "12,340" not in later.text and "ご本人確認" in later.text
        paid = phone.post(f"{location}/pay", data={"lang": "ja"})
        assert paid.status_code == 303 and paid.headers["location"].startswith(f"/l/{j.token}?")
        assert "e=session_expired" in paid.headers["location"]


def test_access_logs_never_carry_the_token_or_the_url_session():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/l/AbCdEf0123456789AbCdEf.0123456789abcdef0123456789abcdef/pay?lang=ja", "1.1", 200),
        None,
    )
    for f in logging.getLogger("uvicorn.access").filters:
        f.filter(record)
    text = record.getMessage()
    assert "AbCdEf0123456789AbCdEf" not in text and "0123456789abcdef" not in text
    assert "/l/<token>/pay" in text


def test_wrong_answer_goes_back_by_get_keeping_what_is_not_secret(live_server, session):
    answers = {"生年月日": ("date", "1980-01-02"), "お客様番号": ("digits", "123456"), "暗証番号": ("secret", "9876")}
    j = make_journey(session, answers=answers)
    q_birth, q_number, q_pin = j.question_ids
    with cookieless(live_server) as phone:
        page = phone.get(f"/l/{j.token}").text
        # hints are tied to their fields
        assert f'<span class="hint" id="hint-q{q_birth}">' in page and f'aria-describedby="hint-q{q_birth}"' in page
        fields = dict(form_to(page, "/verify")["fields"])
        fields.update({f"q_{q_birth}": "1980/01/03", f"q_{q_number}": "123456", f"q_{q_pin}": "1111"})
        wrong = phone.post(form_to(page, "/verify")["action"], data=fields)
        location = wrong.headers["location"]
        assert wrong.status_code == 303 and location.startswith(f"/l/{j.token}?lang=ja&e=wrong&k=")
        assert "123456" not in location and "1980" not in location  # nothing typed in the URL
        shown = phone.get(location).text
        assert "登録情報と一致しませんでした" in shown and "あと4回" in shown
        # an error summary that leads to the fields, and the fields marked
        summary = shown[shown.index('id="error-summary"') : shown.index("</div>", shown.index('id="error-summary"'))]
        assert f'href="#q{q_birth}"' in summary and f'href="#q{q_number}"' in summary
        assert 'aria-invalid="true"' in shown
        # what is not secret is kept; the PIN is not
        assert 'value="123456"' in shown and 'value="1980/01/03"' in shown and 'value="1111"' not in shown
        assert 'value="123456"' not in phone.get(f"/l/{j.token}?lang=ja&e=wrong&k=forged").text
    assert reload(session, Link, j.link_id).failed_attempts == 1


def test_the_identity_page_says_who_asks_and_why_first(live_server, session):
    j = make_journey(session)
    with cookieless(live_server, BROWSER_UA) as browser:
        page = browser.get(f"/l/{j.token}").text
        trust = page[page.index('id="trust"') :]
        # the SMS's sender name, the organisation, the campaign's subject, the published phone
        assert trust.index("【テスト電力】") < trust.index("<label")
        assert "テスト電力株式会社" in trust and "4月分のご請求" in trust and 'href="tel:0312345678"' in trust
        en = browser.get(f"/l/{j.token}?lang=en").text
        assert "This is テスト電力株式会社 writing about" in en


def test_the_identity_page_names_the_official_website_to_check_the_sender(live_server, session, settings):
    """Issue 14 item 6: with an official web address in the settings, the
    identity page says where to check the sender (ja and en); the settings
    refuse what a recipient could not check (not https, credentials)."""
    from smspay_app.models import Organisation, Recipient
    from smspay_app.services import settings as org_settings

    assert org_settings.official_url_of("www.example.co.jp") == "https://www.example.co.jp"
    for bad in ("http://example.co.jp", "https://user@example.co.jp", "javascript:alert(1)", "https://例え"):
        assert org_settings.official_url_of(bad) is None, bad
    _, errors = org_settings.parse_form(
        {
            "name": "x",
            "timezone": "Asia/Tokyo",
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00",
            "segment_price_yen": "10",
            "data_retention_days": "365",
            "official_url": "ftp://example.co.jp",
        }
    )
    assert [e.field for e in errors] == ["official_url"]
    j = make_journey(session)
    org = session.get(Organisation, session.get(Recipient, j.recipient_id).organisation_id)
    org.official_url = "https://www.tepco-test.example.jp/"
    session.add(org)
    session.commit()
    with cookieless(live_server, BROWSER_UA) as browser:
        page = browser.get(f"/l/{j.token}").text
        trust = page[page.index('id="trust"') : page.index("<label")]
        assert "公式サイト" in trust and 'href="https://www.tepco-test.example.jp/"' in trust
        assert 'rel="noopener noreferrer"' in trust and ">www.tepco-test.example.jp<" in trust
        en = browser.get(f"/l/{j.token}?lang=en").text
        assert "official website" in en[en.index('id="trust"') :]


def _sjis_body(fields: dict, *, declare: bool = True) -> bytes:
    from urllib.parse import quote_plus

    items = {**fields, "_charset_": "Shift_JIS"} if declare else {k: v for k, v in fields.items() if k != "_charset_"}
    return "&".join(f"{quote_plus(k)}={quote_plus(v, encoding='cp932')}" for k, v in items.items()).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_kddi_pages_are_shift_jis_and_its_answers_verify(live_server, session):
    j = make_journey(session)
    with cookieless(live_server, KDDI) as phone:
        landing = phone.get(f"/l/{j.token}")
        assert landing.headers["content-type"] == "text/html; charset=Shift_JIS"
        text = landing.content.decode("cp932")
        assert '<meta charset="Shift_JIS">' in text and "ご本人確認" in text
        assert 'accept-charset="Shift_JIS"' in text and 'name="_charset_" value="Shift_JIS"' in text
        action, fields = _answers(text, j)  # 昭和55年1月2日: the era form, in Shift_JIS bytes
        verified = phone.post(action, content=_sjis_body(fields), headers=FORM)
        assert verified.status_code == 303 and "e=" not in verified.headers["location"]
        message = phone.get(verified.headers["location"])
        body = message.content.decode("cp932")
        assert "山田太郎様" in body and "&#165;12,340" in body  # ¥ is not in Shift_JIS: a character reference
    assert reload(session, Link, j.link_id).failed_attempts == 0


@pytest.mark.parametrize("declare", [True, False])
def test_shift_jis_and_utf8_answers_both_verify(live_server, session, declare):
    j = make_journey(session, answers={"お名前（カナ）": ("text", "ヤマダ"), "生年月日": ("date", "1980-01-02")})
    with cookieless(live_server, KDDI) as phone:
        page = phone.get(f"/l/{j.token}").content.decode("cp932")
        form = form_to(page, "/verify")
        q_name, q_birth = j.question_ids
        fields = dict(form["fields"], **{f"q_{q_name}": "ヤマダ", f"q_{q_birth}": "昭和55年1月2日"})
        verified = phone.post(form["action"], content=_sjis_body(fields, declare=declare), headers=FORM)
        assert verified.status_code == 303 and "e=" not in verified.headers["location"]
    other = make_journey(
        session,
        answers={"お名前（カナ）": ("text", "ヤマダ"), "生年月日": ("date", "1980-01-02")},
        phone="+819022223333",
    )
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        page = browser.get(f"/l/{other.token}")
        assert page.headers["content-type"] == "text/html; charset=UTF-8"
        form = form_to(page.text, "/verify")
        q_name, q_birth = other.question_ids
        fields = dict(form["fields"], **{f"q_{q_name}": "ヤマダ", f"q_{q_birth}": "昭和55年1月2日"})
        verified = browser.post(form["action"], data=fields)
        assert verified.status_code == 303 and "e=" not in verified.headers["location"]
    assert reload(session, Link, j.link_id).failed_attempts == 0
    assert reload(session, Link, other.link_id).failed_attempts == 0


def test_a_post_no_charset_can_read_is_never_a_wrong_answer(live_server, session):
    j = make_journey(session)
    q_birth, q_number = j.question_ids
    with cookieless(live_server, KDDI) as phone:
        bad = f"q_{q_birth}=%FF%FE%FD&q_{q_number}=%82".encode()  # neither UTF-8 nor Shift_JIS
        answer = phone.post(f"/l/{j.token}/verify", content=bad, headers=FORM)
        assert answer.status_code == 303 and answer.headers["location"].endswith("e=undecodable")
        shown = phone.get(answer.headers["location"]).content.decode("cp932")
        assert "回数には数えていません" in shown
    assert reload(session, Link, j.link_id).failed_attempts == 0
    assert reload(session, Recipient, j.recipient_id).failed_answer_count == 0


def test_smartphones_and_other_phones_stay_utf8():
    from smspay_app.domain.user_agents import page_charset

    assert page_charset(P903I) == "Shift_JIS" and page_charset(KDDI) == "Shift_JIS"
    assert page_charset("SoftBank/1.0/930SH/SHJ001/SN123 Browser/NetFront/3.5 Profile/MIDP-2.0") == "Shift_JIS"
    assert page_charset(BROWSER_UA) == "UTF-8"
    assert page_charset("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80) Presto/2.5.25") == "UTF-8"
    assert page_charset(None) == "UTF-8"


# ---------------------------------------------------------------- the voucher route (item 3)


def _href(html: str, suffix: str) -> str:
    found = re.search(rf'href="([^"]*{re.escape(suffix)}[^"]*)"', html)
    assert found, f"no link to {suffix}"
    return found.group(1).replace("&amp;", "&")


def _pay_by_voucher(phone: httpx.Client, j, *, decode=lambda r: r.text, post=None) -> tuple[str, str]:
    """Identity check, then the voucher route's konbini form; returns the page
    showing the voucher (what the recipient reads at the store)."""
    post = post or (lambda url, fields: phone.post(url, data=fields))
    action, fields = _answers(decode(phone.get(f"/l/{j.token}")), j)
    verified = post(action, fields)
    assert verified.status_code == 303 and "e=" not in verified.headers["location"]
    message = decode(phone.get(verified.headers["location"]))
    assert "/pay" not in "".join(f["action"] for f in _forms(message))  # no hosted page on this phone
    route = decode(phone.get(_href(message, "/voucher")))
    assert "メールアドレス" in route
    konbini = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "konbini")
    fields = dict(konbini["fields"], payer_email="taro@docomo.ne.jp")
    assert fields["payer_name"] == "山田太郎"  # prefilled: only the e-mail is asked
    created = post(konbini["action"], fields)
    assert created.status_code == 303, decode(created)
    assert "e=" not in created.headers["location"], created.headers["location"]
    return decode(phone.get(created.headers["location"])), created.headers["location"]


def _forms(html: str) -> list[dict]:
    from tests.helpers import forms_of

    return forms_of(html)


def _mark_paid_at_the_store(live_server, payment) -> None:
    with live_server.client() as tester:
        pending = tester.get("/sim/stripe/pending")
        mark = form_to(pending.text, payment.provider_session_id)
        done = tester.post(mark["action"], data=dict(mark["fields"], result="paid"))
        assert done.status_code == 303


def _only_payment(session, recipient_id):
    from sqlmodel import select

    from smspay_app.models import Payment

    session.expire_all()
    (payment,) = session.exec(select(Payment).where(Payment.recipient_id == recipient_id)).all()
    return payment


def test_p903i_without_cookies_pays_at_a_konbini_through_the_sandbox(live_server, session):
    j = make_journey(session)
    with cookieless(live_server) as phone:
        voucher, location = _pay_by_voucher(phone, j)
        payment = _only_payment(session, j.recipient_id)
        assert payment.status == "processing" and payment.method == "konbini"
        assert payment.provider_session_id.startswith("pi_") and payment.expires_at is not None
        stores = json.loads(payment.voucher_json)["konbini_display_details"]["stores"]
        # our own page: the numbers, the amount and the deadline
        assert stores["lawson"]["confirmation_number"] in voucher and stores["familymart"]["payment_code"] in voucher
        assert "12,340" in voucher and "お支払い期限" in voucher
        assert "taro@docomo.ne.jp" not in payment.voucher_json  # the e-mail went to the gateway only
        _mark_paid_at_the_store(live_server, payment)
        paid = phone.get(location)
        assert "お支払いありがとうございました" in paid.text and "12,340" in paid.text
    assert reload(session, Recipient, j.recipient_id).status == "paid"
    assert _only_payment(session, j.recipient_id).status == "succeeded"


def test_kddi_posting_shift_jis_pays_at_a_konbini(live_server, session):
    j = make_journey(session)
    with cookieless(live_server, KDDI) as phone:

        def decode(r):
            return r.content.decode("cp932")

        def post(url, fields):
            return phone.post(url, content=_sjis_body(fields), headers=FORM)

        voucher, location = _pay_by_voucher(phone, j, decode=decode, post=post)
        assert "お支払い期限" in voucher and "&#165;12,340" in voucher
        payment = _only_payment(session, j.recipient_id)
        _mark_paid_at_the_store(live_server, payment)
        assert "お支払いありがとうございました" in decode(phone.get(location))
    assert reload(session, Recipient, j.recipient_id).status == "paid"


def test_a_smartphone_can_pick_the_voucher_route_too(live_server, session):
    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        action, fields = _answers(browser.get(f"/l/{j.token}").text, j)
        browser.post(action, data=fields)
        message = browser.get(f"/l/{j.token}").text
        assert form_to(message, "/pay")  # the card page stays for smartphones
        route = browser.get(_href(message, "/voucher")).text
        bank = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "bank_transfer")
        assert "payer_email" not in dict(bank["fields"])  # bank transfer asks nothing
        shown = browser.post(bank["action"], data=bank["fields"], follow_redirects=True)
        assert "銀行振込でのお支払い" in shown.text and "三井住友銀行" in shown.text
        konbini = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "konbini")
    payment = _only_payment(session, j.recipient_id)
    assert payment.method == "bank" and payment.status == "processing" and payment.provider_customer_id
    assert konbini


def test_the_voucher_route_asks_what_konbini_needs(live_server, session):
    j = make_journey(session)
    with cookieless(live_server) as phone:
        action, fields = _answers(phone.get(f"/l/{j.token}").text, j)
        base = phone.post(action, data=fields).headers["location"]
        bad = phone.post(f"{base}/voucher", data={"method": "konbini", "payer_name": "山田", "payer_email": "nope"})
        assert bad.status_code == 303 and bad.headers["location"] == f"{base}/voucher?lang=ja&e=payer_email_invalid"
        shown = phone.get(bad.headers["location"])
        assert "メールアドレスを正しく入力してください" in shown.text
        nameless = phone.post(f"{base}/voucher", data={"method": "konbini", "payer_email": "a@b.jp"})
        assert nameless.headers["location"].endswith("e=payer_name_required")
        odd = phone.post(f"{base}/voucher", data={"method": "pay_easy"})
        assert odd.headers["location"].endswith("e=method_unavailable")
    from sqlmodel import select

    from smspay_app.models import Payment

    assert not session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).all()


def test_every_post_answers_with_a_redirect(live_server, session):
    """Post/redirect/get everywhere: no result is ever shown on a POST URL, so
    a reload never resends a form (issue 14)."""
    j = make_journey(session, max_wrong_answers=1)
    q_birth, q_number = j.question_ids
    with cookieless(live_server) as phone:
        wrong = {f"q_{q_birth}": "1970/01/01", f"q_{q_number}": "1", "lang": "ja"}
        locking = phone.post(f"/l/{j.token}/verify", data=wrong)
        assert locking.status_code == 303 and locking.headers["location"] == f"/l/{j.token}?lang=ja"
        assert phone.get(locking.headers["location"]).status_code == 403  # the GET says: locked
        again = phone.post(f"/l/{j.token}/verify", data=wrong)
        assert again.status_code == 303
        for path in ("/pay", "/voucher", "/read", "/otp", "/voucher-sms"):
            assert phone.post(f"/l/{j.token}{path}", data={"lang": "ja"}).status_code == 303, path
        # the opt-out: done by the POST, said by the GET (and only when it is true)
        other = make_journey(session, phone="+819033334444")
        session.commit()
        from smspay_app.i18n import t

        done_text = t("recipient.optout_done", "ja", org="テスト電力株式会社")
        assert done_text not in phone.get(f"/l/{other.token}/optout?lang=ja&e=done").text
        assert reload(session, Recipient, other.recipient_id).status != "opted_out"
        stopped = phone.post(f"/l/{other.token}/optout", data={"lang": "ja"})
        assert stopped.status_code == 303 and stopped.headers["location"].endswith("/optout?lang=ja&e=done")
        assert done_text in phone.get(stopped.headers["location"]).text
    assert reload(session, Recipient, other.recipient_id).status == "opted_out"


def test_the_voucher_route_closes_a_hosted_checkout_opened_before(live_server, session):
    from sqlmodel import select

    from smspay_app.models import Payment

    j = make_journey(session)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as browser:
        action, fields = _answers(browser.get(f"/l/{j.token}").text, j)
        browser.post(action, data=fields)
        message = browser.get(f"/l/{j.token}").text
        pay = form_to(message, "/pay")
        assert browser.post(pay["action"], data=pay["fields"]).status_code == 303  # the hosted checkout opens
        route = browser.get(_href(message, "/voucher")).text
        bank = next(f for f in _forms(route) if dict(f["fields"]).get("method") == "bank_transfer")
        browser.post(bank["action"], data=bank["fields"])
    session.expire_all()
    rows = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id).order_by(Payment.id)).all()
    assert [(p.status, p.method) for p in rows] == [("expired", ""), ("processing", "bank")]


def test_kept_answers_are_found_by_any_app_process(two_apps, session):
    """Issue 17: the answers kept after a wrong one live on the link's row, not
    in one process's memory: the wrong answer posted to one process, the
    redirect followed on the other refills the non-secret fields; a verified
    session clears them."""
    answers = {"生年月日": ("date", "1980-01-02"), "お客様番号": ("digits", "123456"), "暗証番号": ("secret", "4321")}
    j = make_journey(session, answers=answers)
    q_birth, q_number, q_pin = j.question_ids
    a, b = two_apps
    with httpx.Client(base_url=a) as first, httpx.Client(base_url=b) as other:
        page = first.get(f"/l/{j.token}").text
        fields = dict(form_to(page, "/verify")["fields"])
        fields.update({f"q_{q_birth}": "1980/01/03", f"q_{q_number}": "123456", f"q_{q_pin}": "1111"})
        wrong = first.post(form_to(page, "/verify")["action"], data=fields)
        location = wrong.headers["location"]
        assert wrong.status_code == 303 and "&k=" in location and "123456" not in location
        shown = other.get(location).text
        assert 'value="123456"' in shown and 'value="1980/01/03"' in shown and 'value="1111"' not in shown
        kept = reload(session, Link, j.link_id).kept_answers
        assert "123456" in kept and "1111" not in kept and location.split("&k=")[1] not in kept  # the key's hash only
        fields.update({f"q_{q_birth}": "1980/01/02", f"q_{q_pin}": "4321"})
        right = other.post(form_to(shown, "/verify")["action"], data=fields)
        assert right.status_code == 303
        assert reload(session, Link, j.link_id).kept_answers == ""
        assert 'value="123456"' not in first.get(location).text  # cleared for every process


def test_erasing_a_recipient_also_erases_the_answers_kept_on_their_link(session):
    """Kept answers are personal data: the retention erasure clears them with
    the rest (services.retention.erase_recipients)."""
    from smspay_app.domain.clock import utcnow
    from smspay_app.services import retention

    j = make_journey(session)
    q_birth, q_number = j.question_ids
    ctx = journey.load_context(session, j.token)
    key = journey.keep_answers(session, ctx, {q_birth: "1980/01/03", q_number: "123456"})
    session.commit()
    assert journey.kept_answers(session, j.link_id, key) == {q_birth: "1980/01/03", q_number: "123456"}
    assert retention.erase_recipients(session, [j.recipient_id], utcnow()) == 1
    session.commit()
    assert reload(session, Link, j.link_id).kept_answers == ""
    assert journey.kept_answers(session, j.link_id, key) == {}
