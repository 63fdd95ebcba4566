from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import BRAND, language_switch
from smspay_app.pages.state import AppState, LoginState


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.box(rx.icon("message-square-text", size=22, color="white"), background=BRAND, padding="8px", border_radius="10px"),
                    rx.heading("smspay", size="6"),
                    rx.spacer(),
                    language_switch(),
                    align="center",
                    width="100%",
                ),
                rx.text(AppState.tr["login.subtitle"], color="gray", size="2"),
                rx.form(
                    rx.vstack(
                        rx.text(AppState.tr["login.email"], size="2", weight="medium"),
                        rx.input(name="email", type="email", id="email", required=True, width="100%", size="3", auto_complete="username"),
                        rx.text(AppState.tr["login.password"], size="2", weight="medium"),
                        rx.input(name="password", type="password", id="password", required=True, width="100%", size="3", auto_complete="current-password"),
                        rx.cond(
                            LoginState.error != "",
                            rx.callout(LoginState.error, icon="triangle-alert", color_scheme="red", size="1", width="100%", id="login-error"),
                        ),
                        rx.button(AppState.tr["login.submit"], type="submit", width="100%", size="3", id="login-submit", color_scheme="teal"),
                        spacing="2",
                        width="100%",
                    ),
                    on_submit=LoginState.submit,
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
            width="400px",
        ),
        min_height="100vh",
        background="linear-gradient(160deg, #f0fdfa 0%, #f8fafc 60%)",
    )
