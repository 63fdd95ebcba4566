"""Settings → Connections (admins only): the organisation's own SMS and
payment accounts. Handlers are thin (``services.connections``); no credential
ever enters this state: the form's inputs are uncontrolled and reset on
submit, the rows carry the last four characters only."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.errors import Invalid, Refused
from smspay_app.pages.settings import MessageMixin, _away, message_callout, settings_tabs
from smspay_app.services import auth, connections
from smspay_app.state import AppState, require

PROVIDER_CHOICES = [(kind, p) for kind in connections.KINDS for p in connections.PROVIDERS[kind]]


SUPPORTS = ("replies", "receipts", "carrier", "lookup")


def _supports(view: connections.ConnectionView) -> dict[str, str]:
    """What the provider supports (``providers.sms.base.capabilities_for``), as flags."""
    caps = view.capabilities
    if caps is None:
        return {f"cap_{k}": "" for k in SUPPORTS}
    on = (caps.two_way, caps.delivery_receipts, caps.carrier, caps.lookup)
    return {f"cap_{k}": "1" if flag else "" for k, flag in zip(SUPPORTS, on, strict=True)}


class ConnectionsState(MessageMixin, AppState):
    loaded: bool = False
    rows: list[dict[str, str]] = []
    new_provider: str = "twilio"
    error_keys: dict[str, str] = {}
    # A payment connection's generated webhook secret, shown once after it is
    # added (when none was typed): gone at the next hydrate.
    new_webhook_secret: str = ""
    ONE_TIME: ClassVar[tuple[str, ...]] = ("new_webhook_secret",)

    @rx.var
    def fields(self) -> list[dict[str, str]]:
        # In demo mode the KOMOJU form names the sandbox mounted in this server.
        sandbox = connections.mounted_sandbox_base("komoju") if self.new_provider == "komoju" else ""
        return [
            {
                "name": f.name,
                "secret": "1" if f.secret else "",
                "required": "1" if f.required else "",
                "hint": sandbox if f.name == "api_base" else "",
            }
            for f in connections.FIELDS.get(self.new_provider, ())
        ]

    @rx.var
    def errors(self) -> dict[str, str]:
        return {field: self._t(key) for field, key in self.error_keys.items()}

    def _away(self):
        self.loaded = False
        return _away(self)

    def _reload(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            views = connections.list_for(session, caller)
        self.rows = [
            {
                "id": str(v.id),
                "kind": v.kind,
                "provider": v.provider,
                "label": v.label,
                "hint": v.secret_hint,
                "default": "1" if v.is_default else "",
                "disabled": "1" if v.disabled else "",
                "callback": v.status_callback_url,
                "webhook": v.payment_webhook_url,
                **_supports(v),
                "note": v.capabilities.two_way_note if v.capabilities else "",
                "tested": v.last_test_result,
            }
            for v in views
        ]

    @rx.event
    @require("settings.manage", refused=lambda state, _exc: state._away())
    def load(self, *, caller: auth.Caller):
        self._reload(caller)
        self.error_keys = {}
        self.new_webhook_secret = ""
        self._clear()
        self.loaded = True

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    def choose_provider(self, value: str, *, caller: auth.Caller):
        if any(p == value for _, p in PROVIDER_CHOICES):
            self.new_provider = value
            self.error_keys = {}

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    def add(self, form: dict, *, caller: auth.Caller):
        provider = self.new_provider
        kind = next(k for k, p in PROVIDER_CHOICES if p == provider)
        fields = {f.name: str(form.get(f.name, "")) for f in connections.FIELDS[provider]}
        self.new_webhook_secret = ""
        try:
            with session_scope() as session:
                added = connections.add(
                    session,
                    caller,
                    kind=kind,
                    provider=provider,
                    fields=fields,
                    label=str(form.get("label", "")),
                )
        except Invalid as exc:
            self.error_keys = {e.field: e.key for e in exc.errors}
            self._say("connections.invalid", False)
            return
        except Refused as exc:
            self._refused(exc)
            return
        self.error_keys = {}
        if kind == "payment" and not fields.get("webhook_secret", "").strip():
            self.new_webhook_secret = added.webhook_secret  # for the provider's webhook settings; shown once
        self._reload(caller)
        self._say("connections.added")

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    def make_default(self, connection_id: str, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                connections.set_default(session, caller, int(connection_id))
        except (Refused, ValueError) as exc:
            self._refused(exc) if isinstance(exc, Refused) else self._say("connections.error.not_found", False)
            return
        self._reload(caller)
        self._say("connections.defaulted")

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    def disable(self, connection_id: str, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                connections.disable(session, caller, int(connection_id))
        except (Refused, ValueError) as exc:
            self._refused(exc) if isinstance(exc, Refused) else self._say("connections.error.not_found", False)
            return
        self._reload(caller)
        self._say("connections.disabled_done")

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    async def test(self, connection_id: str, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                result = await connections.test(session, caller, int(connection_id))
        except (Refused, ValueError) as exc:
            self._refused(exc) if isinstance(exc, Refused) else self._say("connections.error.not_found", False)
            return
        self._reload(caller)
        self._say("connections.test.ok" if result == "ok" else result, result == "ok")


def _field(field: rx.Var) -> rx.Component:
    name = field["name"].to(str)
    return rx.vstack(
        rx.text(AppState.tr["connections.field." + name], size="2", weight="medium"),
        rx.input(
            name=name,
            id="conn-" + name,
            type=rx.cond(field["secret"] == "1", "password", "text"),
            auto_complete="off",
            width="100%",
        ),
        rx.cond(
            field["hint"] != "",
            rx.text(
                AppState.tr["connections.hint.mounted_sandbox"],
                " ",
                rx.code(field["hint"]),
                size="1",
                color="var(--gray-11)",
                id="conn-hint-" + name,
            ),
        ),
        rx.cond(
            ConnectionsState.errors.contains(name),
            rx.text(ConnectionsState.errors[name], size="1", color="var(--red-11)", id="conn-err-" + name),
        ),
        spacing="1",
        width="100%",
    )


def _add_form() -> rx.Component:
    return rx.vstack(
        rx.heading(AppState.tr["connections.add"], size="4"),
        rx.text(AppState.tr["connections.provider"], size="2", weight="medium"),
        rx.select.root(
            rx.select.trigger(id="conn-provider", width="100%"),
            rx.select.content(
                *[
                    rx.select.item(AppState.tr[f"connections.provider.{p}"], value=p, id=f"conn-provider-{p}")
                    for _, p in PROVIDER_CHOICES
                ]
            ),
            value=ConnectionsState.new_provider,
            on_change=ConnectionsState.choose_provider,
        ),
        rx.form(
            rx.vstack(
                rx.vstack(
                    rx.text(AppState.tr["connections.label"], size="2", weight="medium"),
                    rx.input(name="label", id="conn-label", max_length=80, width="100%"),
                    spacing="1",
                    width="100%",
                ),
                rx.foreach(ConnectionsState.fields, _field),
                rx.button(AppState.tr["connections.add"], type="submit", color_scheme="teal", id="conn-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=ConnectionsState.add,
            reset_on_submit=True,
            id="conn-form",
            width="100%",
        ),
        spacing="2",
        width="100%",
    )


def _supports_cell(row: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            *[
                rx.cond(
                    row[f"cap_{key}"] == "1",
                    rx.badge(AppState.tr[f"connections.supports.{key}"], variant="soft", size="1"),
                )
                for key in SUPPORTS
            ],
            spacing="1",
            wrap="wrap",
            id="conn-supports-" + row["id"].to(str),
        ),
        rx.cond(row["note"] != "", rx.text(AppState.tr[row["note"].to(str)], size="1", color="gray")),
        spacing="1",
    )


def _row(row: rx.Var) -> rx.Component:
    ident = row["id"].to(str)
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(row["label"], weight="medium"),
                rx.text(AppState.tr["connections.provider." + row["provider"].to(str)], size="1", color="gray"),
                rx.hstack(
                    rx.cond(row["default"] == "1", rx.badge(AppState.tr["connections.default"], color_scheme="teal")),
                    rx.cond(row["disabled"] == "1", rx.badge(AppState.tr["connections.disabled"], color_scheme="gray")),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(rx.code(row["hint"])),
        rx.table.cell(_supports_cell(row)),
        rx.table.cell(
            rx.vstack(
                rx.text(row["callback"], size="1"),
                rx.cond(
                    row["webhook"] != "",
                    rx.vstack(
                        rx.text(AppState.tr["connections.payment_webhook"], size="1", color="gray"),
                        rx.code(row["webhook"], size="1", id="conn-webhook-" + ident),
                        spacing="1",
                    ),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    AppState.tr["connections.test"],
                    size="1",
                    variant="soft",
                    on_click=ConnectionsState.test(ident),
                    id="conn-test-" + ident,
                ),
                rx.cond(
                    (row["default"] != "1") & (row["disabled"] != "1"),
                    rx.button(
                        AppState.tr["connections.make_default"],
                        size="1",
                        variant="soft",
                        on_click=ConnectionsState.make_default(ident),
                        id="conn-default-" + ident,
                    ),
                ),
                rx.cond(
                    row["disabled"] != "1",
                    rx.button(
                        AppState.tr["connections.disable"],
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=ConnectionsState.disable(ident),
                        id="conn-disable-" + ident,
                    ),
                ),
                spacing="2",
                wrap="wrap",
            )
        ),
        id="conn-row-" + ident,
    )


def connections_page() -> rx.Component:
    cols = [
        "connections.col.connection",
        "connections.col.credentials",
        "connections.col.supports",
        "connections.col.callback",
        "connections.col.actions",
    ]
    return admin_page(
        rx.heading(AppState.tr["connections.title"], size="7", margin_bottom="12px"),
        settings_tabs("connections"),
        message_callout(ConnectionsState.message, ConnectionsState.message_ok, "connections-message"),
        rx.cond(
            ConnectionsState.new_webhook_secret != "",
            rx.callout.root(
                rx.callout.text(AppState.tr["connections.webhook_secret_once"]),
                rx.code(ConnectionsState.new_webhook_secret, id="conn-new-webhook-secret"),
                color_scheme="amber",
                margin_bottom="12px",
            ),
        ),
        rx.text(AppState.tr["connections.help"], size="2", color="gray", margin_bottom="12px"),
        rx.vstack(
            card(_add_form()),
            card(
                rx.cond(
                    ConnectionsState.rows.length() > 0,
                    rx.table.root(
                        rx.table.header(rx.table.row(*[rx.table.column_header_cell(AppState.tr[c]) for c in cols])),
                        rx.table.body(rx.foreach(ConnectionsState.rows, _row)),
                        width="100%",
                        variant="surface",
                        id="connections-table",
                    ),
                    rx.text(AppState.tr["connections.none"], id="connections-none"),
                )
            ),
            spacing="4",
            width="100%",
        ),
    )
