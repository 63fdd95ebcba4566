from __future__ import annotations

import reflex as rx
from reflex.components.el.elements.base import BaseHTML

from smspay_app.components.layout import BRAND, language_switch
from smspay_app.state import AppState, LoginState


def _error() -> rx.Component:
    return rx.cond(
        LoginState.error != "",
        rx.callout(
            LoginState.error, icon="triangle-alert", color_scheme="red", size="1", width="100%", id="login-error"
        ),
    )


class PostForm(BaseHTML):
    """A ``<form>`` the browser submits itself: Reflex's own form component
    always prevents the submit and sends the fields over the websocket (or,
    before its JavaScript runs, lets the bare form go as a GET)."""

    tag = "form"
    action: rx.Var[str]
    method: rx.Var[str]


def _password_form() -> rx.Component:
    """A plain HTML form posted to ``/auth/session`` (``web.session_cookie``),
    JavaScript or not: the password never travels in a URL or through the
    page's state, and the session cookie it gets is HttpOnly."""
    return PostForm.create(
        rx.vstack(
            rx.text(AppState.tr["login.email"], size="2", weight="medium"),
            rx.input(
                name="email", type="email", id="email", required=True, width="100%", size="3", auto_complete="username"
            ),
            rx.text(AppState.tr["login.password"], size="2", weight="medium"),
            rx.input(
                name="password",
                type="password",
                id="password",
                required=True,
                width="100%",
                size="3",
                auto_complete="current-password",
            ),
            _error(),
            rx.button(
                AppState.tr["login.submit"],
                type="submit",
                width="100%",
                size="3",
                id="login-submit",
                color_scheme="teal",
            ),
            spacing="2",
            width="100%",
        ),
        method="post",
        action="/auth/session",
        id="login-form",
        width="100%",
    )


def _code_input() -> rx.Component:
    return rx.input(
        name="code",
        id="totp-code",
        required=True,
        width="100%",
        size="3",
        auto_complete="one-time-code",
        input_mode="text",
        max_length=12,
        auto_focus=True,
    )


def _start_over() -> rx.Component:
    return rx.button(
        AppState.tr["login.totp.back"],
        variant="ghost",
        size="2",
        on_click=LoginState.start_over,
        id="login-start-over",
        type="button",
    )


def _totp_form() -> rx.Component:
    """Posted like the password (``/auth/session``, field ``code``)."""
    return PostForm.create(
        rx.vstack(
            rx.heading(AppState.tr["login.totp.title"], size="4"),
            rx.text(AppState.tr["login.totp.help"], size="2", color="gray"),
            rx.text(AppState.tr["login.totp.code"], size="2", weight="medium"),
            _code_input(),
            _error(),
            rx.button(
                AppState.tr["login.totp.submit"],
                type="submit",
                width="100%",
                size="3",
                id="totp-submit",
                color_scheme="teal",
            ),
            _start_over(),
            spacing="2",
            width="100%",
        ),
        method="post",
        action="/auth/session",
        id="totp-form",
        width="100%",
    )


def _enrol_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(AppState.tr["login.enrol.title"], size="4"),
            rx.text(AppState.tr["login.enrol.help"], size="2", color="gray"),
            rx.center(
                rx.image(src=LoginState.enrol_qr, width="200px", height="200px", id="enrol-qr", alt="QR"), width="100%"
            ),
            rx.text(AppState.tr["account.totp.key"], size="1", color="gray"),
            rx.code(LoginState.enrol_secret, id="enrol-secret", size="2"),
            rx.text(AppState.tr["account.totp.code"], size="2", weight="medium"),
            _code_input(),
            _error(),
            rx.button(
                AppState.tr["account.totp.confirm"],
                type="submit",
                width="100%",
                size="3",
                id="enrol-submit",
                color_scheme="teal",
            ),
            _start_over(),
            spacing="2",
            width="100%",
        ),
        on_submit=LoginState.submit_enrol,
        reset_on_submit=True,
        width="100%",
    )


def recovery_codes_box(codes, on_done) -> rx.Component:
    """The recovery codes, shown once (used after sign-in enrolment and on the account page)."""
    return rx.vstack(
        rx.heading(AppState.tr["account.totp.codes_title"], size="4"),
        rx.text(AppState.tr["account.totp.codes_help"], size="2", color="gray"),
        rx.grid(
            rx.foreach(codes, lambda c: rx.code(c, size="3", variant="outline")),
            columns="2",
            spacing="2",
            id="recovery-codes",
        ),
        rx.button(
            AppState.tr["account.totp.codes_done"],
            on_click=on_done,
            color_scheme="teal",
            id="recovery-codes-done",
            type="button",
        ),
        spacing="3",
        width="100%",
    )


def login_page() -> rx.Component:
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
                rx.text(AppState.tr["login.subtitle"], color="gray", size="2"),
                rx.match(
                    LoginState.step,
                    ("totp", _totp_form()),
                    ("enrol", _enrol_form()),
                    ("codes", recovery_codes_box(LoginState.recovery_codes, LoginState.codes_saved)),
                    _password_form(),
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="420px",
        ),
        min_height="100vh",
        background="linear-gradient(160deg, #f0fdfa 0%, #f8fafc 60%)",
    )
