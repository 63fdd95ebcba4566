"""The admin session out of JavaScript's and Redis's reach (issue 18 item 11:
"The admin session cookie is readable by JavaScript (not HttpOnly)"; issue
17 item 6: "Redis holds the live admin session token in clear
(``AppState.session_token``, pickled, 1-hour TTL) while the database keeps
only its hash"; issue 17 item 5: "pressing ログイン submitted the bare HTML
form as a GET ... the password in the URL").

The sign-in form posts to ``POST /auth/session`` on the real web app (a live
HTTP server); Reflex's event socket sees the cookie only as its hash
(``web.session_cookie.SessionRef``); the state tree, serialised as the Redis
state manager stores it, holds no token."""

from __future__ import annotations

import asyncio
import pickle

import reflex as rx
from reflex.state import _apply_client_storage_vars
from sqlmodel import select

from smspay_app.models import AuthSession
from smspay_app.services import auth
from smspay_app.web.session_cookie import (
    CHALLENGE_COOKIE,
    REF_COOKIE,
    SESSION_COOKIE,
    SessionRef,
    rewrite_cookie_header,
)
from tests.factories import PASSWORD, make_org, make_user, signed_in


def _post(live_server, data: dict, **headers):
    with live_server.client() as http:
        return http.post("/auth/session", data=data, headers=headers, follow_redirects=False)


def _set_cookie_of(response, name: str) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}="))


def test_sign_in_form_post_sets_an_httponly_lax_session_cookie(live_server, session):
    org = make_org(session)
    user = make_user(session, org, "admin")
    session.commit()
    response = _post(live_server, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/login"  # it sends home
    header = _set_cookie_of(response, SESSION_COOKIE).lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "secure" not in header  # served over http here: Secure only with an https public_base_url
    token = response.cookies[SESSION_COOKIE]
    assert auth.caller_for_token(session, token).user_id == user.id


def test_session_cookie_is_secure_when_served_over_https(live_server, session, monkeypatch):
    from smspay_app.settings import get_settings

    org = make_org(session)
    user = make_user(session, org, "admin")
    session.commit()
    monkeypatch.setattr(get_settings(), "public_base_url", "https://pay.example.jp")
    response = _post(live_server, {"email": user.email, "password": PASSWORD})
    assert "; secure" in _set_cookie_of(response, SESSION_COOKIE).lower()


def test_a_wrong_password_goes_back_with_the_refusal_and_never_the_credentials(live_server, session):
    org = make_org(session)
    user = make_user(session, org, "admin")
    session.commit()
    response = _post(live_server, {"email": user.email, "password": "wrong password"})
    assert response.status_code == 303 and response.headers["location"] == "/login?error=failed"
    assert SESSION_COOKIE not in response.cookies
    assert user.email not in response.headers["location"]


def test_a_cross_site_sign_in_post_is_refused(live_server, session):
    """Login CSRF: a page elsewhere posting its own credentials would sign
    this browser in as someone else."""
    org = make_org(session)
    user = make_user(session, org, "admin")
    session.commit()
    response = _post(live_server, {"email": user.email, "password": PASSWORD}, **{"Sec-Fetch-Site": "cross-site"})
    assert response.headers["location"] == "/login?error=cross_site"
    assert SESSION_COOKIE not in response.cookies
    response = _post(live_server, {"email": user.email, "password": PASSWORD}, Origin="https://evil.example")
    assert SESSION_COOKIE not in response.cookies


def test_a_second_factor_gets_an_httponly_challenge_not_a_session(live_server, session):
    from smspay_app.services import totp

    org = make_org(session)
    user = make_user(session, org, "admin")
    enrolment = totp.begin_enrolment(session, user)
    totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))
    session.commit()
    response = _post(live_server, {"email": user.email, "password": PASSWORD})
    assert response.headers["location"] == "/login?step=code" and SESSION_COOKIE not in response.cookies
    assert "httponly" in _set_cookie_of(response, CHALLENGE_COOKIE).lower()
    assert auth.challenge_step(session, response.cookies[CHALLENGE_COOKIE]) == "totp"


def test_a_session_opened_by_a_handler_is_handed_to_the_cookie_once_live(live_server, session):
    """The TOTP step and the set-up open the session in a Reflex handler; the
    page hands it to the route, which sets the HttpOnly cookie. A forged or
    ended session gets no cookie."""
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    response = _post(live_server, {"token": token})
    assert response.status_code == 204 and response.cookies[SESSION_COOKIE] == token
    assert "httponly" in _set_cookie_of(response, SESSION_COOKIE).lower()
    forged = _post(live_server, {"token": "forged-token"})
    assert forged.status_code == 403 and SESSION_COOKIE not in forged.cookies
    auth.sign_out(session, token)
    session.commit()
    assert _post(live_server, {"token": token}).status_code == 403


def test_sign_out_route_ends_the_session_and_clears_the_cookie(live_server, session):
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    with live_server.client() as http:
        http.cookies.set(SESSION_COOKIE, token)
        response = http.post("/auth/sign-out", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (
        'smspay_session=""' in _set_cookie_of(response, SESSION_COOKIE)
        or "max-age=0" in _set_cookie_of(response, SESSION_COOKIE).lower()
    )
    assert auth.caller_for_token(session, token) is None


def test_reflex_sees_the_session_cookie_only_as_its_reference():
    """SessionRef in front of /_event: the token becomes its hash, a
    browser-sent reference is dropped, other cookies pass; other paths (the
    export, the simulators' guard) keep the cookie."""
    seen: dict[str, list] = {}

    async def app(scope, receive, send):
        seen[scope["path"]] = [v.decode() for k, v in scope["headers"] if k == b"cookie"]

    middleware = SessionRef(app)
    cookie = f"smspay_lang=en; {SESSION_COOKIE}=tok-123; {REF_COOKIE}=forged"
    for path in ("/_event/", "/admin/exports/campaigns/1.csv"):
        scope = {"type": "websocket", "path": path, "headers": [(b"cookie", cookie.encode())]}
        asyncio.run(middleware(scope, None, None))
    assert seen["/_event/"] == [f"smspay_lang=en; {REF_COOKIE}={auth.session_ref('tok-123')}"]
    assert "tok-123" not in seen["/_event/"][0] and "forged" not in seen["/_event/"][0]
    assert seen["/admin/exports/campaigns/1.csv"] == [cookie]
    assert rewrite_cookie_header(f"{REF_COOKIE}=forged") == ""


def _signed_in_tab(settings, token: str):
    import smspay_app.smspay_app  # noqa: F401  registers the pages
    from smspay_app.pages.developers import DevelopersState

    root = rx.State(_reflex_internal_init=True)
    header = rewrite_cookie_header(f"{SESSION_COOKIE}={token}")
    data = {"sid": "sid-1", "token": "client-1", "headers": {"cookie": header}}
    root.router_data = root._update_router_vars(data, root.router_data or {})
    root._reset_client_storage()
    asyncio.run(_apply_client_storage_vars(root, {}))
    root.dict()  # the hydrate: the state binds to the presented session
    return root, root.get_substate(DevelopersState.get_full_name().split("."))


def _all_states(state):
    yield state
    for sub in state.substates.values():
        yield from _all_states(sub)


def test_state_as_stored_in_redis_holds_no_session_token(settings, session):
    """Every state of the tree pickled as the Redis state manager stores it
    (``BaseState._serialize``, one entry per state): no token, anywhere,
    router headers included; the reference is the token's hash."""
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    root, state = _signed_in_tab(settings, token)
    DevelopersState.load.fn(state)
    assert state._session_ref == auth.session_ref(token)
    stored = [s._serialize() for s in _all_states(root)]
    assert stored and not [b for b in stored if token.encode() in b]
    assert not [b for b in stored if token in repr(pickle.loads(b))]
    assert token not in repr(root.dict())  # nor in what the browser receives


def test_a_client_that_forges_the_old_session_var_gets_nothing(settings, session):
    """The old ``AppState.session_token`` client-storage var: presented at
    a hydrate by a browser without the cookie, it signs nobody in."""
    from smspay_app.state import AppState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    import smspay_app.smspay_app  # noqa: F401

    assert "session_token" not in AppState.__fields__
    root = rx.State(_reflex_internal_init=True)
    root.router_data = root._update_router_vars({"sid": "sid-x", "token": "c"}, root.router_data or {})
    app_state = root.get_substate(AppState.get_full_name().split("."))
    root._reset_client_storage()
    asyncio.run(_apply_client_storage_vars(root, {f"{AppState.get_full_name()}.session_token": token}))
    root.dict()
    assert app_state._session_ref == ""
    assert AppState.guard.fn(app_state) is not None  # sent to the login page
    assert app_state.user_name == ""
    # the database keeps the hash only: the same reference, never the token
    assert session.exec(select(AuthSession.token_hash)).first() == auth.session_ref(token)


def test_the_login_page_names_the_refusal_the_form_post_came_back_with(settings):
    import smspay_app.smspay_app  # noqa: F401
    from smspay_app.state import LoginState

    root = rx.State(_reflex_internal_init=True)
    data = {"sid": "s", "token": "c", "headers": {"origin": "http://localhost:3000"}, "asPath": "/login?error=failed"}
    root.router_data = root._update_router_vars(data, root.router_data or {})
    page = root.get_substate(LoginState.get_full_name().split("."))
    page._bound_sid = "s"
    LoginState.redirect_if_signed_in.fn(page)
    assert page.step == "password" and page.error == "メールアドレスまたはパスワードが正しくありません。"


def test_a_code_without_a_live_challenge_starts_over_and_opens_nothing(live_server, session):
    with live_server.client() as http:
        http.cookies.set(CHALLENGE_COOKIE, "no-such-challenge")
        response = http.post("/auth/session", data={"code": "123456"}, follow_redirects=False)
    assert response.headers["location"] == "/login?error=restart"
    assert SESSION_COOKIE not in response.cookies
    assert "max-age=0" in _set_cookie_of(response, CHALLENGE_COOKIE).lower()  # the dead challenge is cleared
