"""Settings pages (admins only): the organisation form and users and roles.
Handlers are thin: check the caller, call ``services.settings`` /
``services.users``, show the outcome in the user's language."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import local_time
from smspay_app.models import Organisation
from smspay_app.services import auth, users
from smspay_app.services import settings as org_settings
from smspay_app.state import AppState, require, to_login

ROLE_CHOICES = ("admin", "operator", "support")


@require(refused=to_login)
def _away(self: AppState):
    """Where a caller without the permission goes: the login, or the campaigns."""
    return rx.redirect("/campaigns")


# ----------------------------------------------------------------- organisation


class MessageMixin(AppState, mixin=True):
    """A notice kept as an i18n key (plus fields) and translated when shown,
    so switching the language also switches what is on screen."""

    msg_key: str = ""
    msg_fields: dict[str, str] = {}
    message_ok: bool = True

    @rx.var
    def message(self) -> str:
        return self._t(self.msg_key, **self.msg_fields) if self.msg_key else ""

    def _say(self, key: str, ok: bool = True, **fields) -> None:
        self.msg_key, self.msg_fields = key, {k: str(v) for k, v in fields.items()}
        self.message_ok = ok

    def _clear(self) -> None:
        self.msg_key, self.msg_fields = "", {}

    def _refused(self, exc: Refused) -> None:
        self._say(exc.key, False, **exc.fields)


class OrgSettingsState(MessageMixin, AppState):
    loaded: bool = False
    values: dict[str, str] = {}
    require_totp: bool = False
    error_keys: dict[str, str] = {}

    @rx.var
    def errors(self) -> dict[str, str]:
        return {field: self._t(key) for field, key in self.error_keys.items()}

    def _away(self):
        self.loaded = False
        return _away(self)

    @rx.event
    @require("settings.manage", refused=lambda state, _exc: state._away())
    def load(self, *, caller: auth.Caller):
        with session_scope() as session:
            current = org_settings.get_settings_for(session, caller)
            invoice_number = org_settings.get_invoice_registration_number(session, caller)
        self._show(current, invoice_number)
        self.error_keys = {}
        self._clear()
        self.loaded = True

    def _show(self, current: org_settings.OrgSettings, invoice_number: str) -> None:
        self.values = {
            "name": current.name,
            "sender_name": current.sender_name,
            "sender_id": current.sender_id,
            "timezone": current.timezone,
            "quiet_hours_start": current.quiet_hours_start,
            "quiet_hours_end": current.quiet_hours_end,
            "support_phone": current.support_phone,
            "official_url": current.official_url,
            "segment_price_yen": f"{current.segment_price_yen:g}",
            "data_retention_days": str(current.data_retention_days),
            "invoice_registration_number": invoice_number,
        }
        self.require_totp = current.require_totp

    @rx.event
    @require("settings.manage", refused=lambda state, exc: state._refused(exc))
    def save(self, form: dict, *, caller: auth.Caller):
        form = dict(form)
        typed_number = str(form.pop("invoice_registration_number", "") or "")
        try:
            with session_scope() as session:
                # Both parts validated, every problem shown at once; any error rolls both back.
                problems: list = []
                changes: dict = {}
                saved_number = org_settings.get_invoice_registration_number(session, caller)
                if org_settings.normalise_invoice_number(typed_number) != saved_number:
                    try:
                        org_settings.set_invoice_registration_number(session, caller, typed_number)
                        changes["invoice_registration_number"] = True
                    except org_settings.SettingsInvalid as exc:
                        problems += exc.errors
                try:
                    changes.update(org_settings.update_settings(session, caller, form, caller_ref=self._session_ref))
                except org_settings.SettingsInvalid as exc:
                    problems = exc.errors + problems
                if problems:
                    raise org_settings.SettingsInvalid(problems)
                current = org_settings.get_settings_for(session, caller)
                invoice_number = org_settings.get_invoice_registration_number(session, caller)
        except org_settings.SettingsInvalid as exc:
            form["invoice_registration_number"] = typed_number
            # Keep what was typed: nothing is lost on a mistake.
            self.values = {k: str(form.get(k, "")) for k in self.values}
            self.require_totp = str(form.get("require_totp", "")).lower() in ("on", "true", "1")
            self.error_keys = {e.field: e.key for e in exc.errors}
            self._say("settings.invalid", False)
            return
        self.error_keys = {}
        self._show(current, invoice_number)
        self.org_name = current.name
        self._say("settings.saved" if changes else "settings.unchanged")


def settings_tabs(active: str) -> rx.Component:
    def tab(key: str, href: str, name: str) -> rx.Component:
        on = name == active
        return rx.link(
            rx.button(
                AppState.tr[key], variant="solid" if on else "soft", color_scheme="teal" if on else "gray", size="2"
            ),
            href=href,
            id=f"tab-{name}",
        )

    return rx.hstack(
        tab("settings.tab.organisation", "/settings", "organisation"),
        tab("settings.tab.users", "/settings/users", "users"),
        tab("settings.tab.connections", "/settings/connections", "connections"),
        spacing="2",
        margin_bottom="16px",
    )


def _field(label_key: str, name: str, help_key: str | None = None, **props) -> rx.Component:
    props.setdefault("width", "100%")
    return rx.vstack(
        rx.text(AppState.tr[label_key], size="2", weight="medium", as_="label", html_for=f"f-{name}"),
        rx.input(name=name, id=f"f-{name}", default_value=OrgSettingsState.values[name], **props),
        rx.cond(
            OrgSettingsState.errors.contains(name),
            rx.text(OrgSettingsState.errors[name], size="1", color="var(--red-11)", id=f"err-{name}"),
        ),
        rx.text(AppState.tr[help_key], size="1", color="gray") if help_key else rx.fragment(),
        spacing="1",
        width="100%",
    )


def _section(title_key: str, *children) -> rx.Component:
    return card(
        rx.heading(AppState.tr[title_key], size="4", margin_bottom="12px"),
        rx.vstack(*children, spacing="4", width="100%"),
    )


def _org_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _section(
                "settings.section.org",
                rx.grid(
                    _field("settings.name", "name", max_length=100),
                    _field("settings.support_phone", "support_phone", "settings.support_phone.help", type="tel"),
                    _field("settings.official_url", "official_url", "settings.official_url.help", max_length=200),
                    _field("settings.sender_name", "sender_name", "settings.sender_name.help", max_length=20),
                    _field("settings.sender_id", "sender_id", "settings.sender_id.help", max_length=16),
                    _field(
                        "settings.invoice_registration_number",
                        "invoice_registration_number",
                        "settings.invoice_registration_number.help",
                        max_length=20,
                        placeholder="T1234567890123",
                    ),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
            ),
            _section(
                "settings.section.sending",
                rx.grid(
                    _field("settings.timezone", "timezone", "settings.timezone.help"),
                    _field(
                        "settings.segment_price",
                        "segment_price_yen",
                        "settings.segment_price.help",
                        input_mode="decimal",
                    ),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
                rx.vstack(
                    rx.text(AppState.tr["settings.quiet_hours"], size="2", weight="medium"),
                    rx.hstack(
                        _field(
                            "settings.quiet_from", "quiet_hours_start", placeholder="21:00", max_length=5, width="120px"
                        ),
                        _field(
                            "settings.quiet_to", "quiet_hours_end", placeholder="08:00", max_length=5, width="120px"
                        ),
                        spacing="4",
                    ),
                    rx.text(AppState.tr["settings.quiet_hours.help"], size="1", color="gray"),
                    spacing="1",
                    width="100%",
                ),
            ),
            _section(
                "settings.section.security",
                _field(
                    "settings.retention",
                    "data_retention_days",
                    "settings.retention.help",
                    type="number",
                    min=1,
                    max=3650,
                    width="160px",
                ),
                rx.vstack(
                    rx.hstack(
                        rx.switch(
                            name="require_totp", default_checked=OrgSettingsState.require_totp, id="f-require_totp"
                        ),
                        rx.text(AppState.tr["settings.require_totp"], size="2", weight="medium"),
                        align="center",
                    ),
                    rx.cond(
                        OrgSettingsState.errors.contains("require_totp"),
                        rx.text(
                            OrgSettingsState.errors["require_totp"],
                            size="1",
                            color="var(--red-11)",
                            id="err-require_totp",
                        ),
                    ),
                    rx.text(AppState.tr["settings.require_totp.help"], size="1", color="gray"),
                    spacing="1",
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.button(
                    AppState.tr["settings.save"], type="submit", color_scheme="teal", size="3", id="settings-save"
                ),
                width="100%",
                justify="end",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=OrgSettingsState.save,
        width="100%",
    )


def message_callout(text, ok, test_id: str) -> rx.Component:
    return rx.cond(
        text != "",
        rx.callout(
            text,
            icon=rx.cond(ok, "circle-check", "triangle-alert"),
            color_scheme=rx.cond(ok, "green", "red"),
            size="1",
            id=test_id,
            margin_bottom="12px",
        ),
    )


def settings_page() -> rx.Component:
    return admin_page(
        rx.heading(AppState.tr["settings.title"], size="7", margin_bottom="12px"),
        settings_tabs("organisation"),
        message_callout(OrgSettingsState.message, OrgSettingsState.message_ok, "settings-message"),
        # The form mounts once the values are loaded, so its defaults are right.
        rx.cond(OrgSettingsState.loaded, _org_form(), rx.center(rx.spinner(), padding="48px")),
    )


# ----------------------------------------------------------------- users


class UsersState(MessageMixin, AppState):
    # The invite/reset notice carries a temporary password: gone at the next page load (issue 18 item 11).
    ONE_TIME: ClassVar[tuple[str, ...]] = ("msg_key", "msg_fields")
    rows: list[dict[str, str]] = []
    invite_error_key: str = ""

    @rx.var
    def invite_error(self) -> str:
        return self._t(self.invite_error_key) if self.invite_error_key else ""

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            listed = users.list_users(session, caller)
            org = session.get(Organisation, caller.organisation_id)
            tz = org.timezone

        self.rows = [
            {
                "id": str(u.id),
                "email": u.email,
                "name": u.display_name,
                "role": u.role,
                "active": "1" if u.is_active else "",
                "totp": "1" if u.totp_on else "",
                "me": "1" if u.id == caller.user_id else "",
                "last_login": local_time(u.last_login_at, tz),
            }
            for u in listed
        ]

    def _away(self):
        self.rows = []
        return _away(self)

    @rx.event
    @require("users.manage", refused=lambda state, _exc: state._away())
    def load(self, *, caller: auth.Caller):
        self._clear()
        self.invite_error_key = ""
        self._refresh(caller)

    def _run(self, caller: auth.Caller, action, done_key: str | None = None, **fields) -> object | None:
        try:
            with session_scope() as session:
                result = action(session)
        except users.UserError as exc:
            self._say(exc.key, False)
            return None
        if done_key:
            self._say(done_key, **fields)
        self._refresh(caller)
        return result

    @rx.event
    @require("users.manage", refused=lambda state, exc: state._refused(exc))
    def invite(self, form: dict, *, caller: auth.Caller):
        email, name, role = (
            str(form.get("email", "")),
            str(form.get("display_name", "")),
            str(form.get("role", "") or "operator"),
        )
        try:
            with session_scope() as session:
                view, password = users.invite_user(session, caller, email, name, role)
        except users.UserError as exc:
            self.invite_error_key = exc.key
            return
        self.invite_error_key = ""
        # Shown once, in this browser only (not stored anywhere readable).
        self._say("users.temp_password", email=view.email, password=password)
        self._refresh(caller)

    @rx.event
    @require("users.manage", refused=lambda state, exc: state._refused(exc))
    def set_role(self, user_id: str, role: str, *, caller: auth.Caller):
        view = self._run(caller, lambda s: users.change_role(s, caller, int(user_id), role))
        if view is not None:
            self._say("users.role_changed", email=view.email)

    @rx.event
    @require("users.manage", refused=lambda state, exc: state._refused(exc))
    def toggle_active(self, user_id: str, *, caller: auth.Caller):
        row = next((r for r in self.rows if r["id"] == user_id), None)
        if row is None:
            self._say("users.error.not_found", False)
            return
        active = not bool(row["active"])
        view = self._run(caller, lambda s: users.set_active(s, caller, int(user_id), active))
        if view is not None:
            self._say("users.activated" if active else "users.deactivated", email=view.email)

    @rx.event
    @require("users.manage", refused=lambda state, exc: state._refused(exc))
    def reset_password(self, user_id: str, reset_totp: bool = False, *, caller: auth.Caller):
        password = self._run(
            caller, lambda s: users.reset_password(s, caller, int(user_id), reset_totp=bool(reset_totp))
        )
        if password is not None:
            email = next((r["email"] for r in self.rows if r["id"] == user_id), "")
            self._say("users.temp_password", email=email, password=password)


def _role_select(row) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id="role-" + row["email"]),
        rx.select.content(*[rx.select.item(AppState.tr[f"admin.role.{r}"], value=r) for r in ROLE_CHOICES]),
        value=row["role"],
        on_change=lambda v: UsersState.set_role(row["id"], v),
        size="1",
    )


def _user_row(row) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.hstack(
                    rx.text(rx.cond(row["name"] != "", row["name"], row["email"]), weight="medium"),
                    rx.cond(row["me"] != "", rx.text(AppState.tr["users.you"], color="gray", size="1")),
                    spacing="1",
                    align="center",
                ),
                rx.text(row["email"], size="1", color="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(_role_select(row)),
        rx.table.cell(
            rx.cond(
                row["totp"] != "",
                rx.badge(AppState.tr["users.totp_on"], color_scheme="green", variant="soft"),
                rx.badge(AppState.tr["users.totp_off"], color_scheme="gray", variant="soft"),
            )
        ),
        rx.table.cell(
            rx.cond(
                row["active"] != "",
                rx.badge(AppState.tr["users.active"], color_scheme="teal", variant="soft"),
                rx.badge(AppState.tr["users.inactive"], color_scheme="red", variant="soft"),
            )
        ),
        rx.table.cell(
            rx.cond(row["last_login"] != "", row["last_login"], AppState.tr["users.never"]), white_space="nowrap"
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(row["active"] != "", AppState.tr["users.deactivate"], AppState.tr["users.activate"]),
                    on_click=UsersState.toggle_active(row["id"]),
                    size="1",
                    variant="soft",
                    color_scheme=rx.cond(row["active"] != "", "red", "teal"),
                    id="toggle-" + row["email"],
                ),
                rx.button(
                    AppState.tr["users.reset_password"],
                    on_click=UsersState.reset_password(row["id"], False),
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    id="reset-" + row["email"],
                ),
                rx.cond(
                    row["totp"] != "",
                    rx.button(
                        AppState.tr["users.reset_totp"],
                        on_click=UsersState.reset_password(row["id"], True),
                        size="1",
                        variant="soft",
                        color_scheme="orange",
                    ),
                ),
                spacing="2",
            )
        ),
        align="center",
    )


def _invite_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(AppState.tr["users.invite"], size="4"),
            rx.grid(
                rx.vstack(
                    rx.text(AppState.tr["users.email"], size="2", weight="medium"),
                    rx.input(name="email", type="email", id="invite-email", required=True, width="100%"),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text(AppState.tr["users.name"], size="2", weight="medium"),
                    rx.input(name="display_name", id="invite-name", width="100%", max_length=100),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text(AppState.tr["users.role"], size="2", weight="medium"),
                    rx.select.root(
                        rx.select.trigger(id="invite-role", width="100%"),
                        rx.select.content(
                            *[rx.select.item(AppState.tr[f"admin.role.{r}"], value=r) for r in ROLE_CHOICES]
                        ),
                        name="role",
                        default_value="operator",
                    ),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text("\u00a0", size="2"),
                    rx.button(AppState.tr["users.add"], type="submit", color_scheme="teal", id="invite-submit"),
                    spacing="1",
                ),
                columns=rx.breakpoints(initial="1", md="4"),
                spacing="3",
                width="100%",
            ),
            rx.cond(
                UsersState.invite_error != "",
                rx.text(UsersState.invite_error, color="var(--red-11)", size="2", id="invite-error"),
            ),
            rx.text(AppState.tr["users.roles.help"], size="1", color="gray"),
            spacing="3",
            width="100%",
        ),
        on_submit=UsersState.invite,
        reset_on_submit=True,
        id="invite-form",
        width="100%",
    )


def users_page() -> rx.Component:
    cols = [
        "users.col.user",
        "users.col.role",
        "users.col.totp",
        "users.col.status",
        "users.col.last_login",
        "users.col.actions",
    ]
    return admin_page(
        rx.heading(AppState.tr["users.title"], size="7", margin_bottom="12px"),
        settings_tabs("users"),
        message_callout(UsersState.message, UsersState.message_ok, "users-message"),
        rx.vstack(
            card(_invite_form()),
            card(
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(AppState.tr[c]) for c in cols])),
                    rx.table.body(rx.foreach(UsersState.rows, _user_row)),
                    width="100%",
                    variant="surface",
                    id="users-table",
                ),
            ),
            spacing="4",
            width="100%",
        ),
    )
