"""The settings, users and account event handlers called directly, as a forged
client would: operators, support staff, signed-out browsers and admins of
another organisation change nothing. Also the login page's TOTP steps through
the real LoginState."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import reflex as rx
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import AuditLog, Organisation, User
from smspay_app.services import auth, totp
from tests.factories import PASSWORD, make_org, make_user, signed_in

FORM = dict(
    name="乗っ取り",
    sender_name="",
    sender_id="",
    timezone="UTC",
    quiet_hours_start="00:00",
    quiet_hours_end="00:00",
    support_phone="",
    segment_price_yen="0",
    data_retention_days="1",
)


@pytest.fixture
def pages(settings):
    import smspay_app.smspay_app  # noqa: F401  registers the pages
    from smspay_app import state
    from smspay_app.pages import account
    from smspay_app.pages import settings as settings_pages

    return settings_pages, account, state


def _state(state_cls, token: str):
    root = rx.State(_reflex_internal_init=True)
    st = root.get_substate(state_cls.get_full_name().split("."))
    st._bind_session(token)
    return st


@pytest.mark.parametrize("role", ["operator", "support", None])
def test_non_admins_cannot_use_settings_or_user_handlers(session, pages, role):
    settings_pages, _, _ = pages
    org = make_org(session, data_retention_days=365)
    victim = make_user(session, org, "admin")
    token = signed_in(session, org, role)[0] if role else "forged-token"

    st = _state(settings_pages.OrgSettingsState, token)
    settings_pages.OrgSettingsState.load.fn(st)
    assert st.values == {} and not st.loaded
    settings_pages.OrgSettingsState.save.fn(st, FORM)
    assert st.message_ok is False

    us = _state(settings_pages.UsersState, token)
    settings_pages.UsersState.load.fn(us)
    assert us.rows == []
    settings_pages.UsersState.invite.fn(us, {"email": "mole@example.com", "display_name": "", "role": "admin"})
    settings_pages.UsersState.set_role.fn(us, str(victim.id), "support")
    settings_pages.UsersState.toggle_active.fn(us, str(victim.id))
    settings_pages.UsersState.reset_password.fn(us, str(victim.id), True)

    session.expire_all()
    org = session.get(Organisation, org.id)
    assert (org.name, org.data_retention_days) == ("テスト商事", 365)
    v = session.get(User, victim.id)
    assert (v.role, v.is_active) == ("admin", True)
    assert auth.sign_in(session, v.email, PASSWORD) is not None
    assert session.exec(select(User).where(User.email == "mole@example.com")).first() is None
    assert (
        session.exec(select(AuditLog).where(AuditLog.action.like("settings.%") | AuditLog.action.like("user.%"))).all()
        == []
    )


def test_admin_of_another_org_cannot_touch_users_here(session, pages):
    settings_pages, _, _ = pages
    a, b = make_org(session, "A社"), make_org(session, "B社")
    target = make_user(session, a, "operator")
    token_b, _ = signed_in(session, b, "admin")
    us = _state(settings_pages.UsersState, token_b)
    settings_pages.UsersState.load.fn(us)
    assert [r["email"] for r in us.rows] == [f"admin-{b.id}@example.com"]
    settings_pages.UsersState.set_role.fn(us, str(target.id), "admin")
    settings_pages.UsersState.toggle_active.fn(us, str(target.id))
    settings_pages.UsersState.reset_password.fn(us, str(target.id), False)
    session.expire_all()
    t = session.get(User, target.id)
    assert (t.role, t.is_active) == ("operator", True)
    assert auth.sign_in(session, t.email, PASSWORD) is not None


def test_admin_saves_settings_and_bad_input_keeps_what_was_typed(session, pages):
    settings_pages, _, _ = pages
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    st = _state(settings_pages.OrgSettingsState, token)
    st.lang = "en"
    settings_pages.OrgSettingsState.load.fn(st)
    assert st.loaded and st.values["name"] == "テスト商事"
    settings_pages.OrgSettingsState.save.fn(st, {**FORM, "name": "新社名", "timezone": "Mars/Olympus"})
    assert st.errors["timezone"] == "Unknown time zone (e.g. Asia/Tokyo)."
    assert st.values["name"] == "新社名" and st.values["timezone"] == "Mars/Olympus"
    session.expire_all()
    assert session.get(Organisation, org.id).name == "テスト商事"
    settings_pages.OrgSettingsState.save.fn(st, {**FORM, "name": "新社名"})
    assert st.message == "Saved." and st.errors == {}
    session.expire_all()
    assert session.get(Organisation, org.id).name == "新社名"


def test_admin_sets_the_invoice_registration_number_on_the_settings_page(session, pages):
    settings_pages, _, _ = pages
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    st = _state(settings_pages.OrgSettingsState, token)
    st.lang = "en"
    settings_pages.OrgSettingsState.load.fn(st)
    assert st.values["invoice_registration_number"] == ""
    base = {k: v for k, v in st.values.items()}
    # A wrong check digit and a wrong time zone: both named, nothing saved, what was typed kept.
    settings_pages.OrgSettingsState.save.fn(
        st, {**base, "invoice_registration_number": "T8010001008846", "timezone": "Mars/Olympus"}
    )
    assert st.errors["invoice_registration_number"].startswith("A registration number is T followed by 13 digits")
    assert "timezone" in st.errors
    assert st.values["invoice_registration_number"] == "T8010001008846"
    session.expire_all()
    assert session.get(Organisation, org.id).invoice_registration_number == ""
    # Full-width input is folded and saved, audited once.
    settings_pages.OrgSettingsState.save.fn(st, {**base, "invoice_registration_number": "Ｔ７０１０７０５０００７２５"})
    assert st.message == "Saved." and st.errors == {}
    assert st.values["invoice_registration_number"] == "T7010705000725"
    session.expire_all()
    assert session.get(Organisation, org.id).invoice_registration_number == "T7010705000725"
    audits = session.exec(select(AuditLog).where(AuditLog.action == "settings.invoice_registration_number")).all()
    assert len(audits) == 1
    settings_pages.OrgSettingsState.save.fn(st, {**base, "invoice_registration_number": "T7010705000725"})
    assert st.message == "Nothing changed."


def _on_connection(st, cookie: str, query: str = "") -> None:
    """The next events arrive on a websocket whose request carried
    ``cookie`` (as ``web.session_cookie.SessionRef`` passes it on)."""
    root = st.parent_state or st
    while root.parent_state is not None:
        root = root.parent_state
    data = {
        "sid": "sid-1",
        "token": "client-1",
        "headers": {"cookie": cookie, "origin": "http://localhost:3000"},
        "pathname": "/login",
        "asPath": f"/login?{query}" if query else "/login",
    }
    root.router_data = root._update_router_vars(data, root.router_data or {})
    st._bound_sid = "sid-1"


def test_login_state_walks_the_totp_step_and_applies_the_users_language(session, pages, live_server):
    """The password goes to POST /auth/session (a plain form post); a user
    with TOTP gets an HttpOnly challenge cookie, not a session, the login
    page shows the code step from that cookie, and the code is posted to the
    same route, which sets the session cookie."""
    from smspay_app.web.session_cookie import CHALLENGE_COOKIE, SESSION_COOKIE

    _, _, state = pages
    org = make_org(session)
    user = make_user(session, org, "admin")
    user.language = "en"
    session.add(user)
    session.commit()
    with clock.frozen(datetime(2026, 11, 21, 3, 0)) as c:
        enrolment = totp.begin_enrolment(session, user)
        totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))
        session.commit()  # the service flushes; the account page's handler would commit
        c.tick(timedelta(seconds=30))
        with live_server.client() as http:
            posted = http.post(
                "/auth/session", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
            )
        assert posted.status_code == 303 and posted.headers["location"] == "/login?step=code"
        assert SESSION_COOKIE not in posted.cookies
        challenge = posted.cookies[CHALLENGE_COOKIE]
        assert "httponly" in posted.headers["set-cookie"].lower()
        st = _state(state.LoginState, "")
        st.lang = ""  # this browser never chose a language: the user's applies
        _on_connection(st, f"{CHALLENGE_COOKIE}={challenge}")  # a plain /login: the password first
        state.LoginState.redirect_if_signed_in.fn(st)
        assert st.step == "password"
        _on_connection(st, f"{CHALLENGE_COOKIE}={challenge}", query="step=code")  # where the post sent it
        state.LoginState.redirect_if_signed_in.fn(st)
        assert st.step == "totp" and st._session_ref == ""
        with live_server.client() as http:
            http.cookies.set(CHALLENGE_COOKIE, challenge)
            wrong = http.post("/auth/session", data={"code": "12345x"}, follow_redirects=False)
            assert wrong.headers["location"] == "/login?step=code&error=wrong_code&left=4"
            _on_connection(st, f"{CHALLENGE_COOKIE}={challenge}", query="step=code&error=wrong_code&left=4")
            state.LoginState.redirect_if_signed_in.fn(st)
            assert st.step == "totp" and "4" in st.error and st._session_ref == ""
            right = http.post("/auth/session", data={"code": totp.code_at(enrolment.secret)}, follow_redirects=False)
        assert right.headers["location"] == "/login"
        token = right.cookies[SESSION_COOKIE]
        assert auth.caller_for_token(session, token).user_id == user.id
        assert "httponly" in right.headers["set-cookie"].lower()
        assert right.cookies["smspay_lang"] == "en"  # the user's language: this browser chose none
        # the next page load presents the cookie: signed in, sent home
        _on_connection(st, f"{SESSION_COOKIE}=x")
        st._bind_session(token)
        assert "/campaigns" in str(state.LoginState.redirect_if_signed_in.fn(st))


def test_language_picked_in_the_browser_before_sign_in_is_kept_on_the_user(session, pages, live_server):
    from smspay_app.web.session_cookie import SESSION_COOKIE

    org = make_org(session)
    user = make_user(session, org, "operator")
    session.commit()
    assert user.language == "ja"
    with live_server.client() as http:
        http.cookies.set("smspay_lang", "en")  # picked on the sign-in page
        posted = http.post("/auth/session", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/login"
    assert auth.caller_for_token(session, posted.cookies[SESSION_COOKIE]) is not None
    session.expire_all()
    assert session.get(type(user), user.id).language == "en"


def test_without_a_chosen_language_sign_in_sets_the_users_own(session, pages, live_server):
    org = make_org(session)
    user = make_user(session, org, "operator")
    user.language = "en"
    session.add(user)
    session.commit()
    with live_server.client() as http:
        posted = http.post("/auth/session", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
    assert posted.cookies["smspay_lang"] == "en"


def test_language_switch_is_kept_on_the_user(session, pages):
    _, _, state = pages
    org = make_org(session)
    token, me = signed_in(session, org, "operator")
    st = _state(state.AppState, token)
    state.AppState.set_lang.fn(st, "en")
    assert st.lang == "en" and st.tr["admin.nav.settings"] == "Settings"
    session.expire_all()
    assert session.get(User, me.user_id).language == "en"


async def test_a_navigation_resending_the_language_cookie_sends_no_translation_table(session, pages):
    """At every client-side navigation the browser sends its cookies again
    (Reflex's ``update_vars_internal``): the same language is no change, so
    the delta carries neither ``tr`` (the whole translation table) nor the
    vars that read the language (issue 16 item 5: 40 KB per page). A new
    language still goes out with its table."""
    from reflex.state import _apply_client_storage_vars

    _, _, state = pages
    root = rx.State(_reflex_internal_init=True)
    app_state = root.get_substate(state.AppState.get_full_name().split("."))
    cookie_var = f"{state.AppState.get_full_name()}.lang"
    await _apply_client_storage_vars(root, {cookie_var: "en"})
    assert "tr_rx_state_" in (await root._get_resolved_delta()).get(state.AppState.get_full_name(), {})
    root._clean()

    await _apply_client_storage_vars(root, {cookie_var: "en"})  # the navigation's resend
    assert app_state.lang == "en" and "lang" not in app_state.dirty_vars
    assert await root._get_resolved_delta() == {}

    await _apply_client_storage_vars(root, {cookie_var: "ja"})  # another tab switched the language
    delta = (await root._get_resolved_delta())[state.AppState.get_full_name()]
    assert delta["tr_rx_state_"]["admin.nav.settings"] == "設定" and delta["lang_rx_state_"] == "ja"


def test_login_state_sets_up_a_required_totp_and_hands_the_session_to_the_cookie(session, pages, live_server):
    """An organisation that requires TOTP: the password post leaves an
    ``enrol`` challenge in its HttpOnly cookie; the login page shows the
    set-up from it, the first code opens the session here (the recovery
    codes on screen once) and the page hands it to POST /auth/session; the
    state keeps only its reference."""
    from smspay_app.web.session_cookie import CHALLENGE_COOKIE, SESSION_COOKIE

    _, _, state = pages
    org = make_org(session, require_totp=True)
    user = make_user(session, org, "admin")
    session.commit()
    with clock.frozen(datetime(2026, 11, 21, 3, 0)):
        with live_server.client() as http:
            posted = http.post(
                "/auth/session", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
            )
        assert posted.headers["location"] == "/login?step=code" and SESSION_COOKIE not in posted.cookies
        challenge = posted.cookies[CHALLENGE_COOKIE]
        st = _state(state.LoginState, "")
        _on_connection(st, f"{CHALLENGE_COOKIE}={challenge}", query="step=code")
        state.LoginState.redirect_if_signed_in.fn(st)
        assert st.step == "enrol" and st.enrol_secret and st.enrol_qr
        handover = state.LoginState.submit_enrol.fn(st, {"code": totp.code_at(st.enrol_secret)})
        assert st.step == "codes" and len(st.recovery_codes) == 10
        caller = auth.caller_for_ref(session, st._session_ref)
        assert caller is not None and caller.user_id == user.id
        script = str(handover)
        assert "/auth/session" in script
        token = next(t for t in re.findall(r"[A-Za-z0-9_-]{40,}", script) if auth.session_ref(t) == st._session_ref)
        with live_server.client() as http:  # what the page's script does with it
            adopted = http.post("/auth/session", data={"token": token}, follow_redirects=False)
        assert adopted.status_code == 204 and adopted.cookies[SESSION_COOKIE] == token
        assert token not in repr(st.dict())
