"""The admin UI's base state: who is signed in and in which language.

Every page state inherits from ``AppState`` and calls ``self._caller(permission)``
at the top of each handler: the session token is checked against the database
on every call, so a stale tab, a revoked session or a forged event gets nothing.
Only display data goes into public vars; ids, hashes and other organisations'
data never do."""

from __future__ import annotations

import reflex as rx

from smspay_app.db import session_scope
from smspay_app.i18n import CATALOG, normalise_language
from smspay_app.services import auth
from smspay_app.settings import get_settings

SESSION_COOKIE = "smspay_session"

_ADMIN_PREFIXES = (
    "admin.", "login.", "campaigns.", "funnel.", "status.", "rstatus.", "editor.", "campaign.", "detail.", "dash.",
)


def _admin_catalog(lang: str) -> dict[str, str]:
    return {k: v[lang] for k, v in CATALOG.items() if k.startswith(_ADMIN_PREFIXES)}


_CATALOGS = {lang: _admin_catalog(lang) for lang in ("ja", "en")}


class AppState(rx.State):
    session_token: str = rx.Cookie(
        "", name=SESSION_COOKIE, same_site="strict", max_age=get_settings().admin_session_hours * 3600
    )
    lang: str = rx.Cookie("ja", name="smspay_lang", same_site="lax", max_age=365 * 24 * 3600)
    user_name: str = ""
    user_role: str = ""
    org_name: str = ""
    notice: str = ""

    @rx.var
    def tr(self) -> dict[str, str]:
        return _CATALOGS[normalise_language(self.lang)]

    def _caller(self, permission: str | None = None) -> auth.Caller:
        """The signed-in caller, checked now against the database; raises
        ``auth.NotAllowed`` when signed out or lacking ``permission``."""
        with session_scope() as session:
            caller = auth.caller_for_token(session, self.session_token)
        if caller is None:
            raise auth.NotAllowed("signed out")
        if permission is not None:
            caller.require(permission)
        return caller

    def _t(self, key: str, **fields) -> str:
        from smspay_app.i18n import t

        return t(key, self.lang, **fields)

    @rx.event
    def guard(self):
        """on_load of every admin page: send signed-out browsers to the login."""
        try:
            caller = self._caller()
        except auth.NotAllowed:
            self.user_name = self.user_role = self.org_name = ""
            return rx.redirect("/login")
        self.user_name = caller.display_name
        self.user_role = caller.role
        self.org_name = caller.organisation_name

    @rx.event
    def set_lang(self, lang: str):
        self.lang = normalise_language(lang)

    @rx.event
    def sign_out(self):
        with session_scope() as session:
            auth.sign_out(session, self.session_token)
        self.session_token = ""
        self.user_name = self.user_role = self.org_name = ""
        return rx.redirect("/login")


class LoginState(AppState):
    error: str = ""

    @rx.event
    def submit(self, form: dict):
        with session_scope() as session:
            result = auth.sign_in(session, str(form.get("email", "")), str(form.get("password", "")))
        if result is None:
            self.error = self._t("login.failed")
            return
        token, caller = result
        self.error = ""
        self.session_token = token
        self.user_name = caller.display_name
        self.user_role = caller.role
        self.org_name = caller.organisation_name
        return rx.redirect("/campaigns")

    @rx.event
    def redirect_if_signed_in(self):
        try:
            self._caller()
        except auth.NotAllowed:
            return
        return rx.redirect("/campaigns")
