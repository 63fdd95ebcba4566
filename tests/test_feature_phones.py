"""Issue 14: every phone finishes the journey. Feature-phone browsers over
plain HTTP: no cookie kept (the i-mode browser of the P903i keeps none),
forms posted in Shift_JIS (older handsets), no JavaScript."""

from __future__ import annotations

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
        assert f'action="/l/{j.token}.{url_session}/pay"' in message.text
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


def test_wrong_answer_goes_back_by_get(live_server, session):
    j = make_journey(session)
    with cookieless(live_server) as phone:
        action, fields = _answers(phone.get(f"/l/{j.token}").text, j, number="999999")
        wrong = phone.post(action, data=fields)
        assert wrong.status_code == 303 and wrong.headers["location"] == f"/l/{j.token}?lang=ja&e=wrong"
        shown = phone.get(wrong.headers["location"])
        assert "登録情報と一致しませんでした" in shown.text and "あと4回" in shown.text
    assert reload(session, Link, j.link_id).failed_attempts == 1


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
