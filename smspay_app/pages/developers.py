"""Developers page (admins only): API keys (create with scopes and IP
allowlist, secret shown once, listed by prefix, revoke; the organisation's
"allowlist required" switch) and webhook endpoints (add with event types,
secret shown once, enable/disable) with their deliveries (status, last
response, re-send). Every handler checks ``settings.manage`` on the server
and calls ``services.api_keys`` / ``services.webhooks``."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.formatting import local_time
from smspay_app.models import Organisation, WebhookEndpoint
from smspay_app.models.api import API_SCOPES, WEBHOOK_EVENT_TYPES
from smspay_app.services import api_keys, auth, webhooks
from smspay_app.state import AppState, require

PERMISSION = "settings.manage"


def _when(at: datetime | None, tz: str) -> str:
    return local_time(at, tz) or "-"


class DevelopersState(AppState):
    keys: list[dict[str, str]] = []
    endpoints: list[dict[str, str]] = []
    deliveries: list[dict[str, str]] = []
    require_allowlist: bool = False
    key_error: str = ""
    hook_error: str = ""
    # The one-time secret of a key or endpoint just created (cleared on close).
    secret_value: str = ""
    secret_open: bool = False
    ONE_TIME: ClassVar[tuple[str, ...]] = ("secret_value", "secret_open")  # gone at the next hydrate (issue 18 item 11)

    def _load(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
            tz = org.timezone
            self.require_allowlist = bool(org.require_api_allowlist)
            self.keys = [
                {
                    "id": str(k.id),
                    "name": k.name,
                    "prefix": k.prefix + "_…",
                    "scopes": ", ".join(k.scopes.split()),
                    "allowlist": ", ".join(k.allowlist.split()),
                    "created": _when(k.created_at, tz),
                    "last_used": _when(k.last_used_at, tz),
                    "revoked": "1" if k.revoked_at else "",
                }
                for k in api_keys.list_keys(session, caller)
            ]
            endpoints = webhooks.list_endpoints(session, caller)
            urls = {e.id: e.url for e in endpoints}
            self.endpoints = [
                {
                    "id": str(e.id),
                    "url": e.url,
                    "description": e.description,
                    "events": " ".join(e.event_types.split()),
                    "active": "1" if e.active else "",
                }
                for e in endpoints
            ]
            self.deliveries = [
                {
                    "id": str(d.id),
                    "event": d.event_type,
                    "endpoint": urls.get(d.endpoint_id, ""),
                    "status": d.status,
                    "attempts": str(d.attempts),
                    "response": (f"{d.last_status_code} " if d.last_status_code else "")
                    + (d.last_error if not d.last_status_code else d.last_response_excerpt[:60]),
                    "created": _when(d.created_at, tz),
                    "next": _when(d.next_attempt_at, tz) if d.status == "pending" else "-",
                }
                for d in webhooks.list_deliveries(session, caller, limit=50)
            ]

    @rx.event
    @require(PERMISSION, refused=lambda _state, _exc: rx.redirect("/campaigns"))
    def load(self, *, caller: auth.Caller):
        self.key_error = self.hook_error = ""
        self.secret_value, self.secret_open = "", False  # a one-time secret is never shown again
        self._load(caller)

    @rx.event
    @require(PERMISSION)
    def create_key(self, form: dict, *, caller: auth.Caller):
        scopes = [s for s in API_SCOPES if str(form.get(f"scope_{s}", "")).lower() in ("on", "true", "1")]
        try:
            with session_scope() as session:
                _, secret = api_keys.create_key(
                    session, caller, str(form.get("name", ""))[:100], scopes, str(form.get("allowlist", ""))[:4000]
                )
        except api_keys.ApiKeyInvalid as exc:
            self.key_error = self._refusal(exc)
            return
        self.key_error = ""
        self.secret_value = secret
        self.secret_open = True
        self._load(caller)

    @rx.event
    @require(PERMISSION)
    def revoke_key(self, key_id: str, *, caller: auth.Caller):
        if str(key_id).isdigit():
            with session_scope() as session:
                api_keys.revoke_key(session, caller, int(key_id))
        self._load(caller)
        return rx.toast(self._t("dev.done.key_revoked"))

    @rx.event
    @require(PERMISSION)
    def set_require_allowlist(self, value: bool, *, caller: auth.Caller):
        with session_scope() as session:
            api_keys.set_require_allowlist(session, caller, bool(value))
        self._load(caller)

    @rx.event
    @require(PERMISSION)
    def create_endpoint(self, form: dict, *, caller: auth.Caller):
        events = [e for e in WEBHOOK_EVENT_TYPES if str(form.get(f"event_{e}", "")).lower() in ("on", "true", "1")]
        try:
            with session_scope() as session:
                _, secret = webhooks.create_endpoint(
                    session, caller, str(form.get("url", ""))[:500], events, str(form.get("description", ""))[:200]
                )
        except webhooks.WebhookInvalid as exc:
            self.hook_error = self._refusal(exc)
            return
        self.hook_error = ""
        self.secret_value = secret
        self.secret_open = True
        self._load(caller)

    @rx.event
    @require(PERMISSION)
    def toggle_endpoint(self, endpoint_id: str, *, caller: auth.Caller):
        if str(endpoint_id).isdigit():
            with session_scope() as session:
                endpoint = session.get(WebhookEndpoint, int(endpoint_id))
                if endpoint is not None:
                    webhooks.set_active(session, caller, endpoint.id, not endpoint.active)
        self._load(caller)

    @rx.event
    @require(PERMISSION)
    def resend(self, delivery_id: str, *, caller: auth.Caller):
        if str(delivery_id).isdigit():
            with session_scope() as session:
                webhooks.resend(session, caller, int(delivery_id))
        self._load(caller)
        return rx.toast(self._t("dev.done.resent"))

    @rx.event
    @require(PERMISSION)
    def refresh(self, *, caller: auth.Caller):
        self._load(caller)

    @rx.event
    def close_secret(self):
        self.secret_value = ""
        self.secret_open = False


# ------------------------------------------------------------------ view


def _secret_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(AppState.tr["dev.secret.title"]),
            rx.text(AppState.tr["dev.secret.help"], size="2", color="gray"),
            rx.code(
                DevelopersState.secret_value,
                id="one-time-secret",
                size="3",
                margin_y="16px",
                style={"word_break": "break-all", "display": "block", "padding": "12px"},
            ),
            rx.flex(
                rx.button(
                    AppState.tr["dev.secret.close"],
                    on_click=DevelopersState.close_secret,
                    id="close-secret",
                    color_scheme="teal",
                ),
                justify="end",
            ),
            max_width="560px",
        ),
        open=DevelopersState.secret_open,
    )


def _error(text) -> rx.Component:
    return rx.cond(text != "", rx.callout(text, color_scheme="red", icon="triangle-alert", size="1", id="dev-error"))


def _keys_card() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.hstack(
                rx.vstack(
                    rx.text(AppState.tr["dev.keys.name"], size="2", weight="medium"),
                    rx.input(
                        name="name", id="key-name", placeholder=AppState.tr["dev.keys.name.placeholder"], width="260px"
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text(AppState.tr["dev.keys.scopes"], size="2", weight="medium"),
                    rx.hstack(
                        *[
                            rx.hstack(
                                rx.checkbox(name=f"scope_{s}", id=f"scope-{s}", default_checked=s != "manage"),
                                rx.text(AppState.tr[f"dev.scope.{s}"], size="2"),
                                align="center",
                                spacing="1",
                            )
                            for s in API_SCOPES
                        ],
                        spacing="4",
                        wrap="wrap",
                    ),
                    spacing="1",
                ),
                spacing="6",
                wrap="wrap",
                align="start",
            ),
            rx.vstack(
                rx.text(AppState.tr["dev.keys.allowlist"], size="2", weight="medium"),
                rx.text_area(
                    name="allowlist",
                    id="key-allowlist",
                    rows="2",
                    width="100%",
                    placeholder="203.0.113.0/24\n2001:db8::/48",
                ),
                rx.text(AppState.tr["dev.keys.allowlist.help"], size="1", color="gray"),
                spacing="1",
                width="100%",
            ),
            _error(DevelopersState.key_error),
            rx.button(
                rx.icon("key-round", size=16),
                AppState.tr["dev.keys.create"],
                type="submit",
                id="create-key",
                color_scheme="teal",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=DevelopersState.create_key,
        reset_on_submit=False,
    )
    table = rx.cond(
        DevelopersState.keys.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(AppState.tr[k])
                        for k in (
                            "dev.keys.name",
                            "dev.keys.prefix",
                            "dev.keys.scopes",
                            "dev.keys.allowlist",
                            "dev.keys.created",
                            "dev.keys.last_used",
                            "dev.keys.status",
                        )
                    ],
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(
                rx.foreach(
                    DevelopersState.keys,
                    lambda k: rx.table.row(
                        rx.table.cell(k["name"]),
                        rx.table.cell(rx.code(k["prefix"], class_name="key-prefix")),
                        rx.table.cell(k["scopes"]),
                        rx.table.cell(rx.cond(k["allowlist"] != "", k["allowlist"], AppState.tr["dev.keys.anywhere"])),
                        rx.table.cell(k["created"]),
                        rx.table.cell(k["last_used"]),
                        rx.table.cell(
                            rx.cond(
                                k["revoked"] != "",
                                rx.badge(AppState.tr["dev.keys.revoked"], color_scheme="red", variant="soft"),
                                rx.badge(AppState.tr["dev.keys.active"], color_scheme="green", variant="soft"),
                            )
                        ),
                        rx.table.cell(
                            rx.cond(
                                k["revoked"] == "",
                                rx.button(
                                    AppState.tr["dev.keys.revoke"],
                                    size="1",
                                    variant="soft",
                                    color_scheme="red",
                                    on_click=DevelopersState.revoke_key(k["id"]),
                                    class_name="revoke-key",
                                ),
                            )
                        ),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            size="1",
        ),
        rx.text(AppState.tr["dev.keys.empty"], color="gray", size="2"),
    )
    return card(
        rx.vstack(
            rx.heading(AppState.tr["dev.keys.title"], size="5"),
            form,
            rx.divider(),
            rx.hstack(
                rx.switch(
                    checked=DevelopersState.require_allowlist,
                    on_change=DevelopersState.set_require_allowlist,
                    id="require-allowlist",
                ),
                rx.text(AppState.tr["dev.keys.require_allowlist"], size="2"),
                align="center",
            ),
            table,
            spacing="4",
            width="100%",
        )
    )


def _hooks_card() -> rx.Component:
    form = rx.form(
        rx.vstack(
            rx.hstack(
                rx.vstack(
                    rx.text(AppState.tr["dev.hooks.url"], size="2", weight="medium"),
                    rx.input(
                        name="url", id="hook-url", placeholder="https://example.com/smspay/webhook", width="380px"
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text(AppState.tr["dev.hooks.description"], size="2", weight="medium"),
                    rx.input(name="description", id="hook-description", width="240px"),
                    spacing="1",
                ),
                spacing="4",
                wrap="wrap",
            ),
            rx.text(AppState.tr["dev.hooks.events"], size="2", weight="medium"),
            rx.flex(
                *[
                    rx.hstack(
                        rx.checkbox(
                            name=f"event_{e}",
                            id=f"event-{e.split('.')[1]}",
                            default_checked=e in ("recipient.paid", "recipient.failed"),
                        ),
                        rx.text(AppState.tr[f"dev.event.{e}"], size="2"),
                        align="center",
                        spacing="1",
                        min_width="150px",
                    )
                    for e in WEBHOOK_EVENT_TYPES
                ],
                wrap="wrap",
                gap="3",
            ),
            rx.text(AppState.tr["dev.hooks.signing"], size="1", color="gray"),
            _error(DevelopersState.hook_error),
            rx.button(
                rx.icon("webhook", size=16),
                AppState.tr["dev.hooks.add"],
                type="submit",
                id="add-endpoint",
                color_scheme="teal",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=DevelopersState.create_endpoint,
        reset_on_submit=False,
    )
    endpoints = rx.cond(
        DevelopersState.endpoints.length() > 0,
        rx.vstack(
            rx.foreach(
                DevelopersState.endpoints,
                lambda e: rx.hstack(
                    rx.cond(
                        e["active"] != "",
                        rx.badge(AppState.tr["dev.hooks.enabled"], color_scheme="green", variant="soft"),
                        rx.badge(AppState.tr["dev.hooks.disabled"], color_scheme="gray", variant="soft"),
                    ),
                    rx.code(e["url"]),
                    rx.text(e["description"], size="2", color="gray"),
                    rx.text(e["events"], size="1", color="gray"),
                    rx.spacer(),
                    rx.button(
                        rx.cond(e["active"] != "", AppState.tr["dev.hooks.disable"], AppState.tr["dev.hooks.enable"]),
                        size="1",
                        variant="soft",
                        on_click=DevelopersState.toggle_endpoint(e["id"]),
                    ),
                    width="100%",
                    align="center",
                    spacing="3",
                ),
            ),
            width="100%",
        ),
        rx.text(AppState.tr["dev.hooks.empty"], color="gray", size="2"),
    )
    return card(
        rx.vstack(
            rx.heading(AppState.tr["dev.hooks.title"], size="5"),
            form,
            rx.divider(),
            endpoints,
            spacing="4",
            width="100%",
        )
    )


def _delivery_status(status) -> rx.Component:
    return rx.badge(
        AppState.tr["dev.delivery." + status],
        color_scheme=rx.match(status, ("delivered", "green"), ("failed", "red"), ("pending", "amber"), "blue"),
        variant="soft",
    )


def _deliveries_card() -> rx.Component:
    cols = (
        "dev.deliveries.when",
        "dev.deliveries.event",
        "dev.deliveries.endpoint",
        "dev.deliveries.status",
        "dev.deliveries.attempts",
        "dev.deliveries.response",
        "dev.deliveries.next",
    )
    return card(
        rx.vstack(
            rx.hstack(
                rx.heading(AppState.tr["dev.deliveries.title"], size="5"),
                rx.spacer(),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    AppState.tr["dev.deliveries.refresh"],
                    size="1",
                    variant="soft",
                    on_click=DevelopersState.refresh,
                    id="refresh-deliveries",
                ),
                width="100%",
                align="center",
            ),
            rx.cond(
                DevelopersState.deliveries.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(AppState.tr[c]) for c in cols],
                            rx.table.column_header_cell(""),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            DevelopersState.deliveries,
                            lambda d: rx.table.row(
                                rx.table.cell(d["created"]),
                                rx.table.cell(AppState.tr["dev.event." + d["event"]]),
                                rx.table.cell(rx.text(d["endpoint"], size="1")),
                                rx.table.cell(_delivery_status(d["status"])),
                                rx.table.cell(d["attempts"]),
                                rx.table.cell(rx.code(d["response"], size="1")),
                                rx.table.cell(d["next"]),
                                rx.table.cell(
                                    rx.button(
                                        AppState.tr["dev.deliveries.resend"],
                                        size="1",
                                        variant="soft",
                                        on_click=DevelopersState.resend(d["id"]),
                                        class_name="resend",
                                    )
                                ),
                                class_name="delivery-row",
                            ),
                        )
                    ),
                    width="100%",
                    variant="surface",
                    size="1",
                ),
                rx.text(AppState.tr["dev.deliveries.empty"], color="gray", size="2"),
            ),
            spacing="4",
            width="100%",
        )
    )


def developers_page() -> rx.Component:
    return admin_page(
        rx.vstack(
            rx.heading(AppState.tr["dev.title"], size="7"),
            rx.text(AppState.tr["dev.intro"], color="gray", size="2"),
            rx.link(
                rx.icon("book-open", size=14),
                AppState.tr["dev.docs_link"],
                href="/api/v1/docs",
                is_external=True,
                size="2",
                id="api-docs-link",
            ),
            _keys_card(),
            _hooks_card(),
            _deliveries_card(),
            _secret_dialog(),
            spacing="5",
            width="100%",
        )
    )
