"""The admin UI's base state: who is signed in and in which language.

Every page state inherits from ``AppState``, and every handler is wrapped in
``@require(permission)``: the session (the reference of the browser's HttpOnly
cookie, ``web.session_cookie``) is checked against the database on every call,
so a stale tab, a revoked session or a forged event gets nothing.
The handler receives the checked caller as its ``caller`` keyword; on refusal
``require`` returns what ``refused`` says (the login page by default, nothing
with ``quietly``, or a page's own notice). Refusals are shown through
``AppState._refusal(exc)``, the one path from a ``Refused`` to text.
Only display data goes into public vars; ids, hashes and other organisations'
data never do.

This module sits at the package root: ``components/`` and ``pages/`` both
import it, and components never import pages."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import reflex as rx
from reflex.state import _ROUTER_FIELD_NAMES, _override_base_method

from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.i18n import CATALOG, normalise_language
from smspay_app.services import auth
from smspay_app.web.session_cookie import (
    CHALLENGE_COOKIE,
    LOGIN_ERRORS,
    REF_COOKIE,
    SIGN_OUT_SCRIPT,
    handover_script,
    parse_cookies,
)

home_for = auth.home_for  # where a signed-in user lands (also the sign-in route's redirect)


def to_login(_state: Any, _exc: Refused) -> Any:
    """Refused: send the browser to the login page (``require``'s default)."""
    return rx.redirect("/login")


def quietly(_state: Any, _exc: Refused) -> None:
    """Refused: do nothing (ticks, paging: the next page load redirects)."""
    return None


def raising(_state: Any, exc: Refused) -> None:
    """Refused: raise ``exc`` (field edits only a forged event would send)."""
    raise exc


def require(
    permission: str | None = None, *, refused: Callable[[Any, Refused], Any] = to_login
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Check the caller before the handler runs; the one sign-in guard.

    The session is checked against the database (``AppState._caller``)
    on every call; with ``permission`` the role must grant it. The handler gets
    the caller as its keyword-only ``caller`` parameter (when it declares one);
    that parameter is hidden from the signature Reflex reads, so a client can
    never pass it. When refused, the handler does not run and ``refused(state,
    exc)`` gives the result. Works for plain, generator, async and async
    generator handlers; in a background task (``@rx.event(background=True)``
    above ``@require``) the check runs inside ``async with self``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        wants_caller = "caller" in signature.parameters

        def call_args(caller: auth.Caller, kwargs: dict[str, Any]) -> dict[str, Any]:
            if "caller" in kwargs:
                raise TypeError(f"{fn.__name__}: the caller comes from the session, not from the event")
            return {**kwargs, "caller": caller} if wants_caller else kwargs

        async def check_async(self: Any) -> tuple[auth.Caller | None, Any]:
            from reflex.istate.proxy import StateProxy

            if isinstance(self, StateProxy):  # a background task: read and write under the lock
                async with self:
                    return _check(self)
            return _check(self)

        def _check(self: Any) -> tuple[auth.Caller | None, Any]:
            try:
                return self._caller(permission), None
            except auth.NotAllowed as exc:
                return None, refused(self, exc)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def wrapper(self, *args, **kwargs):
                caller, result = await check_async(self)
                if caller is None:
                    if result is not None:
                        yield result
                    return
                async for item in fn(self, *args, **call_args(caller, kwargs)):
                    yield item

        elif inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def wrapper(self, *args, **kwargs):
                caller, result = await check_async(self)
                if caller is None:
                    return result
                return await fn(self, *args, **call_args(caller, kwargs))

        elif inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def wrapper(self, *args, **kwargs):
                caller, result = _check(self)
                if caller is None:
                    if result is not None:
                        yield result
                    return
                yield from fn(self, *args, **call_args(caller, kwargs))

        else:

            @functools.wraps(fn)
            def wrapper(self, *args, **kwargs):
                caller, result = _check(self)
                if caller is None:
                    return result
                return fn(self, *args, **call_args(caller, kwargs))

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for name, p in signature.parameters.items() if name != "caller"]
        )
        wrapper.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "caller"}
        return wrapper

    return decorate


_ADMIN_PREFIXES = (
    "admin.",
    "input.",
    "login.",
    "campaigns.",
    "funnel.",
    "status.",
    "rstatus.",
    "editor.",
    "campaign.",
    "detail.",
    "import.rule",
    "ops.",
    "settings.",
    "users.",
    "account.",
    "dev.",
    "dash.",
    "setup.",
    "signup.",
    "owner.",
    "usage.",
    # Settings → Connections (issue 13) and the SMS capability notes beside them.
    "connections.",
    "sms.capability.",
)


def _admin_catalog(lang: str) -> dict[str, str]:
    return {k: v[lang] for k, v in CATALOG.items() if k.startswith(_ADMIN_PREFIXES)}


_CATALOGS = {lang: _admin_catalog(lang) for lang in ("ja", "en")}


class AppState(rx.State):
    # The session is the browser's HttpOnly cookie, set and cleared by
    # ``web.session_cookie``'s routes; Reflex sees only its reference (the
    # token's hash) in the websocket's headers. The state keeps that
    # reference, never the token, in a backend-only var no event can set
    # (issue 17 item 6, issue 18 item 11: the token was an ``rx.Cookie``
    # var, readable by scripts and pickled in clear into Redis).
    # Empty until this browser picks a language (then it wins at sign-in and is
    # kept on the user); the UI shows ``ui_lang`` (Japanese by default).
    lang: str = rx.Cookie("", name="smspay_lang", same_site="lax", max_age=365 * 24 * 3600)
    user_name: str = ""
    user_role: str = ""
    org_name: str = ""
    org_suspended: bool = False
    notice: str = ""
    # Issue 18 item 11: one-time secrets (API key secrets, recovery codes, TOTP
    # set-up secrets, temporary passwords) leave state at the next hydrate:
    # a reload, a reconnect or another browser presenting this tab's client
    # token never sees them again. Each page state lists its own.
    ONE_TIME: ClassVar[tuple[str, ...]] = ()
    # The reference (``auth.session_ref``) of the session this state was
    # filled under: taken from the connection's cookie at every hydrate, or
    # set by a sign-in on this connection (``_bind_session``).
    _session_ref: str = ""
    # A hydrate began (the cookies were reset): ``dict`` binds the state.
    _hydrating: bool = False
    # The websocket (Socket.IO session id) this state's session was presented
    # on: set at sign-in and at every hydrate. An event arriving on another
    # connection that never hydrated (a client replaying a closed tab's
    # client token) is refused by ``_caller``.
    _bound_sid: str = ""

    def __setattr__(self, name: str, value: Any) -> None:
        # Assigning a var the value it holds is no change (issue 16 item 5).
        # Reflex marks every assignment dirty and sends it, and the browser
        # then renders again every component reading that state: the guard's
        # user name at each page load re-rendered every translated text of
        # the page, and the browser's resent language cookie at every
        # client-side navigation (Reflex's ``update_vars_internal``) sent
        # ``tr``, the whole translation table (40 KB), again.
        if not name.startswith("_") and name in self.__dict__ and name in type(self).__fields__:
            current = self.__dict__[name]
            if type(current) is type(value) and current == value:
                return
        super().__setattr__(name, value)

    def _current_sid(self) -> str:
        return str(getattr(getattr(self.router, "session", None), "session_id", "") or "")

    def _presented_ref(self) -> str:
        """The session reference in this connection's request headers
        (``web.session_cookie.SessionRef`` put it there from the cookie)."""
        return parse_cookies(self.router.headers.cookie).get(REF_COOKIE, "")

    def _presented_cookie(self, name: str) -> str:
        return parse_cookies(self.router.headers.cookie).get(name, "")

    def _bind_session(self, token: str) -> Any:
        """This connection now holds the session ``token`` opened by a
        handler (sign-in with a code, set-up): the state keeps its reference
        and the returned script hands the token to the HttpOnly cookie's
        route (for the next page loads)."""
        self._session_ref = auth.session_ref(token)
        self._bound_sid = self._current_sid()
        return rx.call_script(handover_script(token))

    @_override_base_method
    def _reset_client_storage(self):
        # A hydrate (every page load and reconnect) resets the cookies and then
        # applies the ones the browser sends; remember whose state this was.
        if type(self) is AppState:
            self._hydrating = True
        super()._reset_client_storage()

    @_override_base_method
    def dict(self, include_computed: bool = True, initial: bool = False, **kwargs):
        # The hydrate's snapshot: bind the state to the signed-in session. When
        # the browser does not present the session this state was filled under
        # (a closed tab's client token opened elsewhere, an expired or cleared
        # cookie, another user's cookie), every page state is emptied before
        # anything is sent; one-time secrets go in any case.
        if type(self) is AppState and self._hydrating:
            self._hydrating = False
            presented = self._presented_ref()
            same_session = bool(presented) and presented == self._session_ref
            _forget(self, everything=not same_session)
            self._session_ref = presented
            self._bound_sid = self._current_sid()
        return super().dict(include_computed=include_computed, initial=initial, **kwargs)

    def _on_rehydrate(self) -> None:
        """A page state's own clean-up at a hydrate of the same session (after
        its ``ONE_TIME`` vars are reset); none by default."""

    @rx.var
    def tr(self) -> dict[str, str]:
        return _CATALOGS[normalise_language(self.lang)]

    @rx.var
    def ui_lang(self) -> str:
        return normalise_language(self.lang)

    def _caller(self, permission: str | None = None) -> auth.Caller:
        """The signed-in caller, checked now against the database; raises
        ``auth.NotAllowed`` when signed out or lacking ``permission``."""
        if not self._session_ref or self._bound_sid != self._current_sid():
            raise auth.NotAllowed()  # signed out, or not the connection this session was presented on
        with session_scope() as session:
            caller = auth.caller_for_ref(session, self._session_ref)
        if caller is None:
            raise auth.NotAllowed()
        if permission is not None:
            try:
                caller.require(permission)
            except auth.NotAllowed as exc:
                raise auth.NotAllowed() from exc
        return caller

    def _t(self, key: str, **fields) -> str:
        from smspay_app.i18n import t

        return t(key, self.lang, **fields)

    def _refusal(self, refusal: Any, **fields: object) -> str:
        """A refusal as text in the UI language: the one translation path.

        ``refusal`` is a ``Refused``, or anything with a ``key`` and its
        ``fields`` (``FieldError``) or ``params`` (a send-check ``Problem``);
        ``fields`` given here replace its own (a status shown as its label)."""
        if not isinstance(refusal, Refused) or fields:
            own = getattr(refusal, "fields", None)
            own = getattr(refusal, "params", {}) if own is None else own
            refusal = Refused(refusal.key, **{**own, **fields})
        return refusal.text(self.lang)

    @rx.event
    @require(refused=lambda state, _exc: state._signed_out())
    def guard(self, *, caller: auth.Caller):
        """on_load of every admin page: send signed-out browsers to the login."""
        self.user_name = caller.display_name
        self.user_role = caller.role
        self.org_name = caller.organisation_name
        self.org_suspended = caller.organisation_status == "suspended"
        if caller.must_change_password and self.router.url.path.rstrip("/") != "/account":
            return [self.html_lang(), rx.redirect("/account")]
        return self.html_lang()

    def html_lang(self):
        """``<html lang>`` follows the UI language (the build says ``ja``, the
        default; issue 15 item 11): screen readers, fonts and hyphenation."""
        return rx.call_script(f"document.documentElement.lang = '{normalise_language(self.lang)}'")

    def _signed_out(self):
        self.user_name = self.user_role = self.org_name = ""
        return rx.redirect("/login")

    @rx.event
    def set_lang(self, lang: str):
        """Switch the UI language; signed in, it is also kept on the user and
        applied at the next sign-in."""
        self.lang = normalise_language(lang)
        self._keep_lang()
        return self.html_lang()

    @require(refused=quietly)
    def _keep_lang(self, *, caller: auth.Caller) -> None:
        from smspay_app.services import users

        with session_scope() as session:
            users.set_language(session, caller, self.lang)

    @rx.event
    def sign_out(self):
        """End the session here, have the page's script clear the cookie
        (``POST /auth/sign-out``), and show the login page."""
        with session_scope() as session:
            auth.sign_out_ref(session, self._session_ref)
        self._session_ref = ""
        self.user_name = self.user_role = self.org_name = ""
        return [rx.call_script(SIGN_OUT_SCRIPT), rx.redirect("/login")]


def _forget(state: Any, *, everything: bool) -> None:
    """Reset ``state`` and its substates' vars (never the cookies): all of
    them when ``everything``, else only each state's ``ONE_TIME`` vars."""
    cls = type(state)
    for name, field in cls.__fields__.items():
        if (
            field._owner is not cls
            or name in _ROUTER_FIELD_NAMES
            or name in ("_session_ref", "_hydrating", "_bound_sid")
        ):
            continue
        if cls._is_client_storage(name):
            continue
        if everything or name in cls.ONE_TIME:
            setattr(state, name, field.default_value())
    if not everything and hasattr(state, "_on_rehydrate"):
        state._on_rehydrate()
    for substate in state.substates.values():
        _forget(substate, everything=everything)


class LoginState(AppState):
    """Sign-in. The password and the TOTP code go to ``POST /auth/session``
    as plain form posts (``web.session_cookie``): a session, a refusal
    (``?error=``), or a pending challenge in an HttpOnly cookie from which
    this state shows the next step: the code or, when the organisation
    requires TOTP, setting it up. The challenge is not a session and opens no
    page; the session the set-up opens here is handed to the cookie's route
    (``_bind_session``)."""

    error: str = ""
    step: str = "password"  # password | totp | enrol | codes
    enrol_qr: str = ""
    enrol_secret: str = ""
    recovery_codes: list[str] = []
    # A reload shows a TOTP set-up secret and the recovery codes no more
    # (issue 18 item 11); a pending challenge continues from its cookie.
    ONE_TIME: ClassVar[tuple[str, ...]] = ("enrol_qr", "enrol_secret", "recovery_codes")

    def _on_rehydrate(self) -> None:
        if self.step != "password":
            self.step = "password"

    def _challenge(self) -> str:
        return self._presented_cookie(CHALLENGE_COOKIE)

    def _reset_steps(self) -> None:
        self.step = "password"
        self.enrol_qr = self.enrol_secret = ""

    def _signed_in(self, result: auth.SignInStep):
        caller = result.caller
        self.error = ""
        self.user_name = caller.display_name
        self.user_role = caller.role
        self.org_name = caller.organisation_name
        if self.lang:  # picked in this browser: remember it on the user
            from smspay_app.services import users

            with session_scope() as session:
                users.set_language(session, caller, self.lang)
        else:
            self.lang = normalise_language(caller.language)
        self.enrol_qr = self.enrol_secret = ""
        if result.recovery_codes:
            self.recovery_codes = list(result.recovery_codes)
            self.step = "codes"
            return self._bind_session(result.token)
        self.step = "password"
        return [self._bind_session(result.token), rx.redirect(home_for(caller.role, caller.must_change_password))]

    def _not_done(self, result: auth.SignInStep):
        if result.kind == "wrong_code":
            self.error = self._t("login.totp.wrong", left=result.tries_left)
        else:
            self._reset_steps()
            self.error = self._t("login.totp.throttled" if result.kind == "throttled" else "login.totp.restart")

    def _resume(self) -> None:
        """The login page as the last form post left it: its refusal, or the
        step its pending challenge waits for."""
        self._reset_steps()
        query = self.router.url.query_parameters
        error = LOGIN_ERRORS.get(query.get("error", ""))
        left = query.get("left", "")
        self.error = self._t(error, left=int(left) if left.isdigit() else 0) if error else ""
        challenge = self._challenge()
        if not challenge or query.get("step") != "code":
            return  # a plain /login starts with the password
        with session_scope() as session:
            step = auth.challenge_step(session, challenge)
            enrolment = auth.sign_in_enrol_begin(session, challenge) if step == "enrol" else None
        if step is None:
            self.error = ""
            return
        self.step = step
        if enrolment is not None:
            self.enrol_qr = enrolment.qr_svg_data_uri
            self.enrol_secret = enrolment.secret

    @rx.event
    def submit_enrol(self, form: dict):
        if self.step != "enrol":
            return
        with session_scope() as session:
            result = auth.sign_in_enrol_finish(session, self._challenge(), str(form.get("code", "")))
        if result.kind == "done":
            return self._signed_in(result)
        self._not_done(result)

    @rx.event
    def start_over(self):
        self._reset_steps()
        self.error = ""

    @rx.event
    def codes_saved(self):
        self.recovery_codes = []
        self.step = "password"
        return rx.redirect(home_for(self.user_role))

    @rx.event
    def redirect_if_signed_in(self):
        if self.step == "codes" and self.recovery_codes:
            return  # the recovery codes are on screen: let them be read
        return self._to_campaigns()

    @require(refused=lambda state, _exc: state._resume())
    def _to_campaigns(self, *, caller: auth.Caller):
        return rx.redirect(home_for(caller.role, caller.must_change_password))
