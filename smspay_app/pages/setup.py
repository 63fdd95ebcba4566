"""/setup/[token]: the installation owner creates their account from the
one-time set-up link (services.installation), then is offered TOTP at once
(services.totp). The link's token lives in the URL only; nothing secret is
kept in public state."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import BRAND, language_switch
from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.i18n import normalise_language
from smspay_app.pages.login import recovery_codes_box
from smspay_app.services import auth, installation, totp, users
from smspay_app.services.settings import SettingsInvalid
from smspay_app.state import AppState, require

OWNER_HOME = "/installation"


class SetupState(AppState):
    step: str = "loading"  # loading | invalid | form | totp | codes
    error_keys: dict[str, str] = {}
    error_key: str = ""
    enrol_qr: str = ""
    enrol_secret: str = ""
    recovery_codes: list[str] = []
    ONE_TIME: ClassVar[tuple[str, ...]] = ("recovery_codes",)  # shown once (issue 18 item 11)

    @rx.var
    def errors(self) -> dict[str, str]:
        return {f: self._t(k) for f, k in self.error_keys.items()}

    @rx.var
    def error(self) -> str:
        return self._t(self.error_key) if self.error_key else ""

    def _token(self) -> str:
        return str(getattr(self, "token", "") or "")

    @rx.event
    def load(self):
        if self.step in ("totp", "codes"):
            return
        with session_scope() as session:
            ok = installation.setup_link_valid(session, self._token())
        self.step = "form" if ok else "invalid"
        self.error_keys, self.error_key = {}, ""

    @rx.event
    def submit(self, form: dict):
        if self.step != "form":
            return
        try:
            with session_scope() as session:
                token, caller = installation.complete_setup(
                    session,
                    self._token(),
                    str(form.get("email", "")),
                    str(form.get("display_name", "")),
                    str(form.get("password", "")),
                    str(form.get("password_again", "")),
                    normalise_language(self.lang),
                )
                enrolment = totp.begin_enrolment(session, users.me(session, caller))
        except SettingsInvalid as exc:
            self.error_keys = {e.field: e.key for e in exc.errors}
            self.error_key = ""
            return
        except Refused as exc:
            self.error_keys, self.error_key = {}, exc.key
            self.step = "invalid"
            return
        handover = self._bind_session(token)  # the HttpOnly cookie, through its route
        self.user_name, self.user_role, self.org_name = caller.display_name, caller.role, caller.organisation_name
        self.error_keys, self.error_key = {}, ""
        self.enrol_qr, self.enrol_secret = enrolment.qr_svg_data_uri, enrolment.secret
        self.step = "totp"
        return handover

    @rx.event
    @require(None)
    def confirm_totp(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                codes = totp.confirm_enrolment(session, users.me(session, caller), str(form.get("code", "")))
        except totp.TotpError as exc:
            self.error_key = exc.key
            return
        self.error_key = ""
        self.enrol_qr = self.enrol_secret = ""
        self.recovery_codes = codes
        self.step = "codes"

    @rx.event
    def finish(self):
        self.recovery_codes = []
        self.enrol_qr = self.enrol_secret = ""
        self.step = "loading"
        return rx.redirect(OWNER_HOME)


def _field(label_key: str, name: str, **props) -> rx.Component:
    return rx.vstack(
        rx.text(AppState.tr[label_key], size="2", weight="medium", as_="label", html_for=f"setup-{name}"),
        rx.input(name=name, id=f"setup-{name}", width="100%", size="3", **props),
        rx.cond(
            SetupState.errors.contains(name),
            rx.text(SetupState.errors[name], size="1", color="var(--red-11)", id=f"setup-err-{name}"),
        ),
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(AppState.tr["setup.title"], size="4"),
            rx.text(AppState.tr["setup.help"], size="2", color="gray"),
            _field("login.email", "email", type="email", required=True, auto_complete="username"),
            _field("setup.display_name", "display_name", max_length=100),
            _field("login.password", "password", type="password", required=True, auto_complete="new-password"),
            _field("setup.password_again", "password_again", type="password", required=True),
            rx.button(
                AppState.tr["setup.submit"],
                type="submit",
                width="100%",
                size="3",
                id="setup-submit",
                color_scheme="teal",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=SetupState.submit,
        reset_on_submit=False,
        width="100%",
    )


def _totp() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(AppState.tr["setup.totp.title"], size="4"),
            rx.text(AppState.tr["setup.totp.help"], size="2", color="gray"),
            rx.center(rx.image(src=SetupState.enrol_qr, width="200px", height="200px", id="setup-qr", alt="QR")),
            rx.text(AppState.tr["account.totp.key"], size="1", color="gray"),
            rx.code(SetupState.enrol_secret, id="setup-secret", size="2", word_break="break-all"),
            rx.text(AppState.tr["account.totp.code"], size="2", weight="medium"),
            rx.input(name="code", id="setup-code", width="100%", size="3", auto_complete="one-time-code"),
            rx.cond(SetupState.error != "", rx.text(SetupState.error, size="1", color="var(--red-11)")),
            rx.button(
                AppState.tr["account.totp.confirm"], type="submit", width="100%", id="setup-totp-submit", size="3"
            ),
            rx.button(
                AppState.tr["setup.totp.later"],
                type="button",
                variant="ghost",
                on_click=SetupState.finish,
                id="setup-totp-later",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=SetupState.confirm_totp,
        reset_on_submit=True,
        width="100%",
    )


def setup_page() -> rx.Component:
    invalid = rx.callout(
        rx.cond(SetupState.error != "", SetupState.error, AppState.tr["setup.error.link"]),
        icon="triangle-alert",
        color_scheme="red",
        id="setup-invalid",
    )
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.box(
                        rx.icon("message-square-text", size=22, color="white"),
                        background=BRAND,
                        padding="8px",
                        border_radius="10px",
                    ),
                    rx.heading("smspay", size="6"),
                    rx.spacer(),
                    language_switch(),
                    align="center",
                    width="100%",
                ),
                rx.match(
                    SetupState.step,
                    ("form", _form()),
                    ("totp", _totp()),
                    ("codes", recovery_codes_box(SetupState.recovery_codes, SetupState.finish)),
                    ("invalid", invalid),
                    rx.spinner(),
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="440px",
        ),
        min_height="100vh",
        background="linear-gradient(160deg, #f0fdfa 0%, #f8fafc 60%)",
    )


# ----------------------------------------------------------------- /signup (self-service, off by default)


class SignupState(AppState):
    open_: bool = False
    done: bool = False
    error_keys: dict[str, str] = {}
    error_key: str = ""

    @rx.var
    def errors(self) -> dict[str, str]:
        return {f: self._t(k) for f, k in self.error_keys.items()}

    @rx.var
    def error(self) -> str:
        return self._t(self.error_key) if self.error_key else ""

    @rx.event
    def load(self):
        self.open_ = installation.signup_open()
        self.done = False
        self.error_keys, self.error_key = {}, ""

    @rx.event
    def submit(self, form: dict):
        try:
            with session_scope() as session:
                installation.apply(
                    session,
                    business_name=str(form.get("business_name", "")),
                    contact_name=str(form.get("contact_name", "")),
                    email=str(form.get("email", "")),
                    phone=str(form.get("phone", "")),
                    note=str(form.get("note", "")),
                )
        except SettingsInvalid as exc:
            self.error_keys, self.error_key = {e.field: e.key for e in exc.errors}, ""
            return
        except Refused as exc:
            self.error_keys, self.error_key = {}, exc.key
            return
        self.error_keys, self.error_key = {}, ""
        self.done = True


def _signup_field(label_key: str, name: str, **props) -> rx.Component:
    return rx.vstack(
        rx.text(AppState.tr[label_key], size="2", weight="medium", as_="label", html_for=f"signup-{name}"),
        rx.input(name=name, id=f"signup-{name}", width="100%", size="3", **props),
        rx.cond(
            SignupState.errors.contains(name),
            rx.text(SignupState.errors[name], size="1", color="var(--red-11)", id=f"signup-err-{name}"),
        ),
        spacing="1",
        width="100%",
    )


def signup_page() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.heading(AppState.tr["signup.title"], size="4"),
            rx.text(AppState.tr["signup.help"], size="2", color="gray"),
            _signup_field("signup.business_name", "business_name", required=True, max_length=100),
            _signup_field("signup.contact_name", "contact_name", max_length=100),
            _signup_field("login.email", "email", type="email", required=True),
            _signup_field("signup.phone", "phone", type="tel", max_length=30),
            _signup_field("signup.note", "note", max_length=1000),
            rx.cond(SignupState.error != "", rx.text(SignupState.error, size="2", color="var(--red-11)")),
            rx.button(AppState.tr["signup.submit"], type="submit", width="100%", size="3", id="signup-submit"),
            spacing="2",
            width="100%",
        ),
        on_submit=SignupState.submit,
        reset_on_submit=False,
        width="100%",
    )
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(rx.heading("smspay", size="6"), rx.spacer(), language_switch(), width="100%"),
                rx.cond(
                    SignupState.open_,
                    rx.cond(
                        SignupState.done,
                        rx.callout(AppState.tr["signup.received"], icon="circle-check", color_scheme="green"),
                        form,
                    ),
                    rx.callout(AppState.tr["signup.error.closed"], icon="info", id="signup-closed"),
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="440px",
        ),
        min_height="100vh",
        background="linear-gradient(160deg, #f0fdfa 0%, #f8fafc 60%)",
    )
