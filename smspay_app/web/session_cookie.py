"""The admin session cookie: set and cleared only by HTTP routes (HttpOnly, so
no script reads it), and turned into a reference before Reflex sees it.

- ``POST /auth/session`` is the sign-in form's own action: a plain HTML form
  post, so it works before (or without) the frontend's JavaScript and no
  password ever goes into a URL (issue 17 item 5: a bare form submitted as a
  GET put ``?email=..&password=..`` in the address bar and the proxy's log).
  A right password without a second factor sets the session cookie and
  goes back to ``/login``, which sends a signed-in browser home; one due a TOTP code or set-up sets a short-lived HttpOnly
  challenge cookie (a pending challenge, not a session) and goes back to
  ``/login?step=code``, whose Reflex state continues from it; the TOTP code
  is posted here too (``code``); a refusal goes back with
  ``?error=<kind>`` (never the address typed). The same route takes
  ``token``: a session a Reflex handler opened (the TOTP set-up at sign-in,
  whose recovery codes the page shows once, and the installation's set-up) handed over once by the page's script, so that the
  cookie holding it is HttpOnly too.
- ``POST /auth/sign-out`` ends the cookie's session and clears it.
- ``SessionRef`` (middleware in front of Reflex's ``/_event``) replaces the
  cookie in the websocket's request headers by ``smspay_ref=<session_ref>``,
  the token's hash: Reflex keeps those headers in the state it pickles into
  Redis, and the state's own ``AppState._session_ref`` is that hash too
  (issue 17 item 6: the live token sat in Reflex state and Redis in clear).
  A ``smspay_ref`` the browser sends itself is dropped.

Issue 18 item 11: the admin session cookie was readable by JavaScript
(Reflex 0.10.1's ``rx.Cookie`` cannot set HttpOnly)."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "smspay_session"  # HttpOnly: the raw session token
REF_COOKIE = "smspay_ref"  # what Reflex sees instead: the token's hash
CHALLENGE_COOKIE = "smspay_challenge"  # HttpOnly: a pending TOTP challenge
LANG_COOKIE = "smspay_lang"  # the UI language (AppState.lang, readable by the page)
EVENT_PATH = "/_event"
# The login page continues a pending challenge only when the password post
# sent it there (a plain /login starts with the password, as before).
CONTINUE_QUERY = "step=code"

# The refusals the login page names (``?error=``), and their text keys.
LOGIN_ERRORS = {
    "failed": "login.failed",
    "busy": "login.busy",
    "password_throttled": "login.password_throttled",
    "throttled": "login.totp.throttled",
    "restart": "login.totp.restart",
    "wrong_code": "login.totp.wrong",  # with ?left=<tries left>
    "cross_site": "login.cross_site",
}


def parse_cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie[Any] = SimpleCookie()
    try:
        jar.load(header or "")
    except Exception:  # a malformed cookie header: none
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _https() -> bool:
    from smspay_app.settings import get_settings

    return get_settings().public_base_url.startswith("https://")


def handover_script(token: str) -> str:
    """The page's script that hands a session opened by a Reflex handler to
    ``POST /auth/session``, which sets the HttpOnly cookie for the next page
    loads (this connection is signed in already). The token is in no state
    var, URL or readable cookie."""
    return (
        "fetch('/auth/session',{method:'POST',credentials:'same-origin',"
        f"body:new URLSearchParams({{token:{json.dumps(token)}}})}})"
    )


# The session has ended already (the handler); this clears the cookie.
SIGN_OUT_SCRIPT = "fetch('/auth/sign-out',{method:'POST',credentials:'same-origin'})"


def _set_session(response: Response, token: str) -> None:
    from smspay_app.settings import get_settings

    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=get_settings().admin_session_hours * 3600,
        path="/",
        httponly=True,
        secure=_https(),
        samesite="lax",
    )
    response.delete_cookie(CHALLENGE_COOKIE, path="/", httponly=True, secure=_https(), samesite="lax")


def _back(error: str) -> RedirectResponse:
    return RedirectResponse(f"/login?error={quote(error)}", status_code=303)


def _password_step(email: str, password: str, address: str):
    """The password step in its own unit of work (the gate's thread)."""
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    with session_scope() as session:
        return auth.sign_in_start(session, email, password, address)


def _keep_language(caller, chosen: str | None) -> str:
    """The browser's chosen language is kept on the user; without one the
    user's own applies (what ``LoginState`` did at sign-in)."""
    from smspay_app.db import session_scope
    from smspay_app.i18n import normalise_language
    from smspay_app.services import users

    if chosen:
        with session_scope() as session:
            users.set_language(session, caller, normalise_language(chosen))
        return ""
    return normalise_language(caller.language)


def _address(request: Request) -> str:
    from smspay_app.services import api_keys
    from smspay_app.settings import get_settings

    peer = request.client.host if request.client else ""
    return api_keys.client_address(peer, request.headers.get("x-forwarded-for"), get_settings().api_trusted_proxies)


async def sign_in(request: Request) -> Response:
    from smspay_app.services import auth
    from smspay_app.web.recipient import cross_site

    if cross_site(request):  # a page elsewhere signing this browser in (login CSRF)
        return _back("cross_site")
    form = await request.form()
    if "token" in form:
        return await _adopt(str(form.get("token", "")))
    if "code" in form:
        return await _code_step(request, str(form.get("code", "")))
    try:
        result = await auth.password_gate.run(
            _password_step, str(form.get("email", "")), str(form.get("password", "")), _address(request)
        )
    except auth.SignInBusy:
        return _back("busy")
    if result is None:
        return _back("failed")
    if result.kind in ("throttled", "password_throttled"):
        return _back(result.kind)
    if result.kind in ("totp", "enrol"):
        response = RedirectResponse(f"/login?{CONTINUE_QUERY}", status_code=303)
        response.set_cookie(
            CHALLENGE_COOKIE,
            result.challenge,
            max_age=auth.ENROL_MINUTES * 60,
            path="/",
            httponly=True,
            secure=_https(),
            samesite="lax",
        )
        return response
    return await _signed_in(request, result)


async def _signed_in(request: Request, result) -> Response:
    """The session cookie, the language, and back to the login page, which
    sends the signed-in browser home in the page (the URLs stay those of the
    app's own navigation: /campaigns)."""
    response = RedirectResponse("/login", status_code=303)
    _set_session(response, result.token)
    lang = await run_in_threadpool(_keep_language, result.caller, request.cookies.get(LANG_COOKIE))
    if lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax", secure=_https())
    return response


def _check_code(challenge: str, code: str):
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    with session_scope() as session:
        return auth.sign_in_code(session, challenge, code)


async def _code_step(request: Request, code: str) -> Response:
    """The TOTP (or recovery) code for the pending challenge in its cookie."""
    result = await run_in_threadpool(_check_code, request.cookies.get(CHALLENGE_COOKIE, ""), code)
    if result.kind == "done":
        return await _signed_in(request, result)
    if result.kind == "wrong_code":
        return RedirectResponse(f"/login?{CONTINUE_QUERY}&error=wrong_code&left={result.tries_left}", status_code=303)
    response = _back("throttled" if result.kind == "throttled" else "restart")
    response.delete_cookie(CHALLENGE_COOKIE, path="/", httponly=True, secure=_https(), samesite="lax")
    return response


def _live(token: str) -> bool:
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    with session_scope() as session:
        return auth.caller_for_token(session, token) is not None


async def _adopt(token: str) -> Response:
    """A live session opened by a Reflex handler becomes this browser's
    HttpOnly cookie; anything else is refused and sets nothing."""
    if not token or not await run_in_threadpool(_live, token):
        return PlainTextResponse("no such session", status_code=403)
    response = Response(status_code=204)
    _set_session(response, token)
    return response


def _end(token: str | None) -> None:
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    with session_scope() as session:
        auth.sign_out(session, token)


async def sign_out(request: Request) -> Response:
    from smspay_app.web.recipient import cross_site

    if cross_site(request):
        return PlainTextResponse("cross-site sign-out refused", status_code=403)
    await run_in_threadpool(_end, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=_https(), samesite="lax")
    response.delete_cookie(CHALLENGE_COOKIE, path="/", httponly=True, secure=_https(), samesite="lax")
    return response


routes = [
    Route("/auth/session", sign_in, methods=["POST"]),
    Route("/auth/sign-out", sign_out, methods=["POST"]),
]


def rewrite_cookie_header(header: str) -> str:
    """The Cookie header as Reflex may see it: the session token replaced by
    its reference, a browser-sent reference dropped, the rest unchanged."""
    from smspay_app.services import auth

    kept: list[str] = []
    token = ""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            token = value.strip().strip('"')
        elif name and name != REF_COOKIE:
            kept.append(part.strip())
    if token:
        kept.append(f"{REF_COOKIE}={auth.session_ref(token)}")
    return "; ".join(kept)


class SessionRef:
    """In front of Reflex's event socket: the session cookie becomes its
    reference (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(EVENT_PATH):
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"]
            cookie = "; ".join(v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"cookie")
            rewritten = rewrite_cookie_header(cookie)
            if rewritten:
                headers.append((b"cookie", rewritten.encode("latin-1")))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
