"""The signed-in user's own account: name, language, password, TOTP
two-factor (enrol with a QR code, recovery codes shown once, turn off)."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.i18n import normalise_language
from smspay_app.models import Organisation
from smspay_app.pages.login import recovery_codes_box
from smspay_app.pages.settings import MessageMixin, message_callout
from smspay_app.services import auth, totp, users
from smspay_app.state import AppState, require


class AccountState(MessageMixin, AppState):
    email: str = ""
    display_name: str = ""
    language: str = "ja"
    totp_on: bool = False
    totp_required: bool = False
    codes_left: int = 0
    enrolling: bool = False
    enrol_qr: str = ""
    enrol_secret: str = ""
    new_codes: list[str] = []
    # Shown once: a reload or another browser never sees them (issue 18 item 11).
    ONE_TIME: ClassVar[tuple[str, ...]] = ("enrolling", "enrol_qr", "enrol_secret", "new_codes")
    loaded: bool = False

    @rx.var
    def totp_status(self) -> str:
        return self._t("account.totp.on", left=self.codes_left)

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            user = users.me(session, caller)
            org = session.get(Organisation, caller.organisation_id)
            self.email = user.email
            self.display_name = user.display_name
            self.language = user.language
            self.totp_on = totp.is_enabled(user)
            self.totp_required = org.require_totp
            self.codes_left = totp.recovery_codes_left(session, user) if self.totp_on else 0

    def _signed_out(self):
        self.loaded = False
        return rx.redirect("/login")

    @rx.event
    @require(refused=lambda state, _exc: state._signed_out())
    def load(self, *, caller: auth.Caller):
        self._refresh(caller)
        self._clear()
        if caller.must_change_password:
            self._say("account.password.must_change", False)
        self.enrolling = False
        self.enrol_qr = self.enrol_secret = ""
        self.new_codes = []
        self.loaded = True

    @rx.event
    @require(None)
    def save_profile(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                view = users.update_profile(
                    session, caller, str(form.get("display_name", "")), str(form.get("language", ""))
                )
        except users.UserError as exc:
            self._say(exc.key, False)
            return
        self.lang = normalise_language(view.language)
        self.user_name = view.display_name or view.email
        self._refresh(caller)
        self._say("account.saved")

    @rx.event
    @require(None)
    def change_password(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                users.change_password(
                    session,
                    caller,
                    str(form.get("current", "")),
                    str(form.get("new", "")),
                    caller_ref=self._session_ref,
                )
        except users.UserError as exc:
            self._say(exc.key, False)
            return
        self._say("account.password.changed")

    @rx.event
    @require(None)
    def start_totp(self, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                enrolment = totp.begin_enrolment(session, users.me(session, caller))
        except totp.TotpError as exc:
            self._say(exc.key, False)
            return
        self.enrolling = True
        self.enrol_qr = enrolment.qr_svg_data_uri
        self.enrol_secret = enrolment.secret
        self._clear()

    @rx.event
    def cancel_totp(self):
        self.enrolling = False
        self.enrol_qr = self.enrol_secret = ""

    @rx.event
    @require(None)
    def confirm_totp(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                codes = totp.confirm_enrolment(session, users.me(session, caller), str(form.get("code", "")))
        except totp.TotpError as exc:
            self._say(exc.key, False)
            return
        self.enrolling = False
        self.enrol_qr = self.enrol_secret = ""
        self.new_codes = codes
        self._refresh(caller)
        self._say("account.totp.enabled")

    @rx.event
    @require(None)
    def disable_totp(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                totp.disable(session, users.me(session, caller), str(form.get("code", "")))
        except totp.TotpError as exc:
            self._say(exc.key, False)
            return
        self._refresh(caller)
        self._say("account.totp.disabled")

    @rx.event
    @require(None)
    def regenerate_codes(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                codes = totp.regenerate_recovery_codes(session, users.me(session, caller), str(form.get("code", "")))
        except totp.TotpError as exc:
            self._say(exc.key, False)
            return
        self.new_codes = codes
        self._refresh(caller)
        self._clear()

    @rx.event
    def codes_done(self):
        self.new_codes = []


def _label(key: str) -> rx.Component:
    return rx.text(AppState.tr[key], size="2", weight="medium")


def _profile() -> rx.Component:
    return card(
        rx.heading(AppState.tr["account.profile"], size="4", margin_bottom="12px"),
        rx.form(
            rx.vstack(
                _label("account.email"),
                rx.text(AccountState.email, id="account-email"),
                _label("account.role"),
                rx.text(AppState.tr["admin.role." + AppState.user_role]),
                _label("account.name"),
                rx.input(
                    name="display_name",
                    default_value=AccountState.display_name,
                    id="account-name",
                    max_length=100,
                    width="100%",
                ),
                _label("account.language"),
                rx.select.root(
                    rx.select.trigger(id="account-language"),
                    rx.select.content(
                        rx.select.item(AppState.tr["account.language.ja"], value="ja"),
                        rx.select.item(AppState.tr["account.language.en"], value="en"),
                    ),
                    name="language",
                    default_value=AccountState.language,
                ),
                rx.button(AppState.tr["account.save"], type="submit", color_scheme="teal", id="account-save"),
                spacing="2",
                width="100%",
            ),
            on_submit=AccountState.save_profile,
            width="100%",
        ),
    )


def _password() -> rx.Component:
    return card(
        rx.heading(AppState.tr["account.password"], size="4", margin_bottom="12px"),
        rx.form(
            rx.vstack(
                _label("account.password.current"),
                rx.input(
                    name="current",
                    type="password",
                    required=True,
                    auto_complete="current-password",
                    id="pw-current",
                    width="100%",
                ),
                _label("account.password.new"),
                rx.input(
                    name="new",
                    type="password",
                    required=True,
                    min_length=10,
                    auto_complete="new-password",
                    id="pw-new",
                    width="100%",
                ),
                rx.button(AppState.tr["account.password.submit"], type="submit", color_scheme="teal", id="pw-submit"),
                spacing="2",
                width="100%",
            ),
            on_submit=AccountState.change_password,
            reset_on_submit=True,
            width="100%",
        ),
    )


def _code_form(
    handler, button_key: str, button_id: str, color: str = "teal", label_key: str = "account.totp.code"
) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="code",
                placeholder=AppState.tr[label_key],
                required=True,
                auto_complete="one-time-code",
                max_length=12,
                id=f"{button_id}-code",
                width="220px",
            ),
            rx.button(
                AppState.tr[button_key],
                type="submit",
                color_scheme=color,
                variant="soft" if color != "teal" else "solid",
                id=button_id,
            ),
            spacing="2",
            align="center",
        ),
        on_submit=handler,
        reset_on_submit=True,
    )


def _totp() -> rx.Component:
    enrol = rx.vstack(
        rx.text(AppState.tr["account.totp.scan"], size="2"),
        rx.hstack(
            rx.image(src=AccountState.enrol_qr, width="200px", height="200px", id="totp-qr", alt="QR"),
            rx.vstack(
                rx.text(AppState.tr["account.totp.key"], size="1", color="gray"),
                rx.code(AccountState.enrol_secret, id="totp-secret", size="2", word_break="break-all"),
                spacing="1",
            ),
            spacing="4",
            align="center",
            wrap="wrap",
        ),
        _code_form(AccountState.confirm_totp, "account.totp.confirm", "totp-confirm"),
        rx.button(
            AppState.tr["account.totp.cancel"],
            variant="ghost",
            size="1",
            on_click=AccountState.cancel_totp,
            type="button",
        ),
        spacing="3",
        width="100%",
    )
    on = rx.vstack(
        rx.hstack(
            rx.badge(AppState.tr["users.totp_on"], color_scheme="green", size="2"),
            rx.text(AccountState.totp_status, size="2", id="totp-status"),
            align="center",
        ),
        _code_form(
            AccountState.regenerate_codes,
            "account.totp.regenerate",
            "totp-regenerate",
            color="gray",
            label_key="account.totp.code",
        ),
        rx.cond(
            AccountState.totp_required,
            rx.text(AppState.tr["account.totp.required"], size="2", color="gray"),
            _code_form(
                AccountState.disable_totp,
                "account.totp.disable",
                "totp-disable",
                color="red",
                label_key="account.totp.code_or_recovery",
            ),
        ),
        spacing="3",
        width="100%",
    )
    off = rx.vstack(
        rx.text(AppState.tr["account.totp.off"], size="2", id="totp-status"),
        rx.button(
            AppState.tr["account.totp.start"], on_click=AccountState.start_totp, color_scheme="teal", id="totp-start"
        ),
        spacing="3",
    )
    return card(
        rx.heading(AppState.tr["account.totp"], size="4", margin_bottom="12px"),
        rx.cond(
            AccountState.new_codes.length() > 0,
            rx.callout.root(
                rx.callout.text(recovery_codes_box(AccountState.new_codes, AccountState.codes_done)),
                color_scheme="amber",
                width="100%",
            ),
            rx.cond(AccountState.totp_on, on, rx.cond(AccountState.enrolling, enrol, off)),
        ),
    )


def account_page() -> rx.Component:
    return admin_page(
        rx.heading(AppState.tr["account.title"], size="7", margin_bottom="16px"),
        message_callout(AccountState.message, AccountState.message_ok, "account-message"),
        rx.cond(
            AccountState.loaded,
            rx.grid(
                rx.vstack(_profile(), _password(), spacing="4", width="100%"),
                _totp(),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            rx.center(rx.spinner(), padding="48px"),
        ),
    )
