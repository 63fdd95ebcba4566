"""/installation: the installation owner's page (``installation.manage``):
organisations created, their admins invited, suspended, reactivated,
deleted, with each one's SMS this month. Thin: every handler calls
services.installation / services.usage. No recipient data is ever loaded."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.pages.settings import MessageMixin, message_callout
from smspay_app.services import auth, installation, usage
from smspay_app.services.settings import SettingsInvalid
from smspay_app.state import AppState, require

PERMISSION = "installation.manage"


class OwnerState(MessageMixin, AppState):
    rows: list[dict[str, str]] = []
    applications: list[dict[str, str]] = []
    error_keys: dict[str, str] = {}
    loaded: bool = False
    # The notice may carry an invited admin's temporary password: shown once.
    ONE_TIME: ClassVar[tuple[str, ...]] = ("msg_key", "msg_fields")

    @rx.var
    def errors(self) -> dict[str, str]:
        return {f: self._t(k) for f, k in self.error_keys.items()}

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            orgs = installation.list_organisations(session, caller)
            months = {o.id: usage.month_usage(session, caller, o.id) for o in orgs}
        self.rows = [
            {
                "id": str(o.id),
                "name": o.name,
                "sender_name": o.sender_name,
                "timezone": o.timezone,
                "support_phone": o.support_phone,
                "status": o.status,
                "cap": str(o.monthly_sms_cap or ""),
                "admins": str(o.admins),
                "sms": str(months[o.id].messages),
                "segments": str(months[o.id].segments),
            }
            for o in orgs
        ]
        with session_scope() as session:
            pending = installation.list_applications(session, caller)
        self.applications = [
            {
                "id": str(a.id),
                "business_name": a.business_name,
                "contact_name": a.contact_name,
                "email": a.email,
                "phone": a.phone,
                "note": a.note,
            }
            for a in pending
        ]

    def _away(self):
        self.loaded = False
        return rx.redirect("/login")

    @rx.event
    @require(PERMISSION, refused=lambda state, _exc: state._away())
    def load(self, *, caller: auth.Caller):
        self._refresh(caller)
        self.error_keys = {}
        self._clear()
        self.loaded = True

    def _run(self, caller: auth.Caller, work, ok_key: str, **fields) -> bool:
        try:
            with session_scope() as session:
                work(session)
        except SettingsInvalid as exc:
            self.error_keys = {e.field: e.key for e in exc.errors}
            self._say("settings.invalid", False)
            return False
        except Refused as exc:
            self._refused(exc)
            return False
        self.error_keys = {}
        self._refresh(caller)
        self._say(ok_key, **fields)
        return True

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def create(self, form: dict, *, caller: auth.Caller):
        name = str(form.get("name", ""))
        self._run(
            caller,
            lambda s: installation.create_organisation(
                s,
                caller,
                name=name,
                sender_name=str(form.get("sender_name", "")),
                timezone=str(form.get("timezone", "") or "Asia/Tokyo"),
                support_phone=str(form.get("support_phone", "")),
                monthly_sms_cap=form.get("monthly_sms_cap", ""),
            ),
            "owner.created",
            name=name.strip(),
        )

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def invite(self, form: dict, *, caller: auth.Caller):
        invited: dict[str, str] = {}

        def work(s):
            view, password = installation.invite_admin(
                s, caller, int(str(form.get("org_id", "0")) or 0), str(form.get("email", "")), str(form.get("name", ""))
            )
            invited.update(email=view.email, password=password)

        if self._run(caller, work, "owner.invited"):
            self._say("owner.invited", link=installation.sign_in_url(), **invited)

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def set_suspended(self, org_id: str, suspended: bool, *, caller: auth.Caller):
        self._run(
            caller,
            lambda s: installation.set_suspended(s, caller, int(org_id), bool(suspended)),
            "owner.suspended" if suspended else "owner.reactivated",
        )

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def set_cap(self, form: dict, *, caller: auth.Caller):
        self._run(
            caller,
            lambda s: installation.set_monthly_cap(s, caller, int(str(form.get("org_id", "0")) or 0), form.get("cap")),
            "owner.cap_saved",
        )

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def delete(self, form: dict, *, caller: auth.Caller):
        self._run(
            caller,
            lambda s: installation.delete_organisation(
                s,
                caller,
                int(str(form.get("org_id", "0")) or 0),
                confirm_name=str(form.get("confirm_name", "")),
                reason=str(form.get("reason", "")),
            ),
            "owner.deleted",
        )

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def approve(self, application_id: str, *, caller: auth.Caller):
        made: dict[str, str] = {}

        def work(s):
            org, view, password = installation.approve_application(s, caller, int(application_id))
            made.update(name=org.name, email=view.email, password=password)

        if self._run(caller, work, "owner.applications.approved"):
            self._say("owner.applications.approved", link=installation.sign_in_url(), **made)

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def reject(self, form: dict, *, caller: auth.Caller):
        self._run(
            caller,
            lambda s: installation.reject_application(
                s, caller, int(str(form.get("application_id", "0")) or 0), str(form.get("reason", ""))
            ),
            "owner.applications.rejected",
        )

    @rx.event
    @require(PERMISSION, refused=lambda state, exc: state._refused(exc))
    def export_usage(self, *, caller: auth.Caller):
        with session_scope() as session:
            months = [
                usage.month_usage(session, caller, o.id) for o in installation.list_organisations(session, caller)
            ]
        return rx.download(data=usage.to_csv(months, self.ui_lang), filename="usage.csv", mime_type="text/csv")


def _input(label_key: str, name: str, **props) -> rx.Component:
    return rx.vstack(
        rx.text(AppState.tr[label_key], size="2", weight="medium", as_="label", html_for=f"owner-{name}"),
        rx.input(name=name, id=f"owner-{name}", width="100%", **props),
        rx.cond(
            OwnerState.errors.contains(name),
            rx.text(OwnerState.errors[name], size="1", color="var(--red-11)", id=f"owner-err-{name}"),
        ),
        spacing="1",
        width="100%",
    )


def _create_form() -> rx.Component:
    return card(
        rx.heading(AppState.tr["owner.create.title"], size="4", margin_bottom="12px"),
        rx.form(
            rx.grid(
                _input("settings.name", "name", required=True, max_length=100),
                _input("settings.sender_name", "sender_name", max_length=20),
                _input("settings.timezone", "timezone", default_value="Asia/Tokyo"),
                _input("settings.support_phone", "support_phone", type="tel"),
                _input("owner.cap", "monthly_sms_cap", input_mode="numeric", placeholder="0"),
                rx.button(AppState.tr["owner.create.submit"], type="submit", id="owner-create", align_self="end"),
                columns=rx.breakpoints(initial="1", md="3"),
                spacing="3",
                width="100%",
            ),
            on_submit=OwnerState.create,
            reset_on_submit=True,
        ),
    )


def _org_row(row: dict) -> rx.Component:
    suspended = row["status"] == "suspended"
    return rx.table.row(
        rx.table.cell(rx.text(row["name"], weight="medium"), rx.text(row["support_phone"], size="1", color="gray")),
        rx.table.cell(
            rx.badge(AppState.tr["owner.status." + row["status"]], color_scheme=rx.cond(suspended, "red", "green"))
        ),
        rx.table.cell(row["admins"]),
        rx.table.cell(row["sms"], " / ", row["segments"], id="owner-month-" + row["id"]),
        rx.table.cell(rx.cond(row["cap"] != "", row["cap"], "—")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(suspended, AppState.tr["owner.reactivate"], AppState.tr["owner.suspend"]),
                    on_click=OwnerState.set_suspended(row["id"], ~suspended),
                    size="1",
                    variant="soft",
                    color_scheme=rx.cond(suspended, "green", "red"),
                    id="owner-toggle-" + row["id"],
                ),
                rx.link(AppState.tr["owner.usage"], href="/usage?org=" + row["id"], size="2"),
                spacing="2",
            )
        ),
        id="owner-org-" + row["id"],
    )


def _org_select() -> rx.Component:
    return rx.el.select(
        rx.foreach(OwnerState.rows, lambda r: rx.el.option(r["name"], value=r["id"])),
        name="org_id",
        id="owner-invite-org",
        style={"padding": "6px", "min_width": "180px"},
    )


def _invite_form() -> rx.Component:
    return card(
        rx.heading(AppState.tr["owner.invite.title"], size="4", margin_bottom="4px"),
        rx.text(AppState.tr["owner.invite.help"], size="2", color="gray", margin_bottom="12px"),
        rx.form(
            rx.hstack(
                _org_select(),
                rx.input(name="email", type="email", required=True, placeholder="admin@...", id="owner-invite-email"),
                rx.input(name="name", placeholder=AppState.tr["setup.display_name"], id="owner-invite-name"),
                rx.button(AppState.tr["owner.invite.submit"], type="submit", id="owner-invite"),
                spacing="2",
                wrap="wrap",
            ),
            on_submit=OwnerState.invite,
            reset_on_submit=True,
        ),
    )


def _manage_forms() -> rx.Component:
    cap = rx.form(
        rx.hstack(
            rx.el.select(
                rx.foreach(OwnerState.rows, lambda r: rx.el.option(r["name"], value=r["id"])),
                name="org_id",
                id="owner-cap-org",
                style={"padding": "6px"},
            ),
            rx.input(name="cap", placeholder=AppState.tr["owner.cap"], input_mode="numeric", id="owner-cap-value"),
            rx.button(AppState.tr["owner.cap_save"], type="submit", variant="soft", id="owner-cap-save"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=OwnerState.set_cap,
        reset_on_submit=True,
    )
    delete = rx.form(
        rx.hstack(
            rx.el.select(
                rx.foreach(OwnerState.rows, lambda r: rx.el.option(r["name"], value=r["id"])),
                name="org_id",
                id="owner-delete-org",
                style={"padding": "6px"},
            ),
            rx.input(name="confirm_name", placeholder=AppState.tr["owner.delete.confirm"], id="owner-delete-name"),
            rx.input(name="reason", placeholder=AppState.tr["owner.delete.reason"], id="owner-delete-reason"),
            rx.button(AppState.tr["owner.delete.submit"], type="submit", color_scheme="red", id="owner-delete"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=OwnerState.delete,
        reset_on_submit=True,
    )
    return card(
        rx.heading(AppState.tr["owner.manage.title"], size="4", margin_bottom="12px"),
        rx.vstack(
            rx.text(AppState.tr["owner.cap.help"], size="2", color="gray"),
            cap,
            rx.text(AppState.tr["owner.delete.help"], size="2", color="gray"),
            delete,
            spacing="3",
        ),
    )


def _application(row: dict) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(row["business_name"], weight="medium"),
            rx.text(row["contact_name"], " · ", row["email"], " · ", row["phone"], size="1", color="gray"),
            rx.text(row["note"], size="1"),
            spacing="0",
        ),
        rx.spacer(),
        rx.button(
            AppState.tr["owner.applications.approve"],
            on_click=OwnerState.approve(row["id"]),
            size="1",
            id="owner-approve-" + row["id"],
        ),
        rx.form(
            rx.hstack(
                rx.el.input(type="hidden", name="application_id", value=row["id"]),
                rx.input(name="reason", placeholder=AppState.tr["owner.delete.reason"], size="1", required=True),
                rx.button(AppState.tr["owner.applications.reject"], type="submit", size="1", color_scheme="red"),
                spacing="1",
            ),
            on_submit=OwnerState.reject,
            reset_on_submit=True,
        ),
        width="100%",
        align="center",
        id="owner-application-" + row["id"],
    )


def _applications() -> rx.Component:
    return card(
        rx.heading(AppState.tr["owner.applications.title"], size="4", margin_bottom="12px"),
        rx.vstack(rx.foreach(OwnerState.applications, _application), spacing="3", width="100%"),
    )


def installation_page() -> rx.Component:
    table = rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(AppState.tr["settings.name"]),
                rx.table.column_header_cell(AppState.tr["owner.col.status"]),
                rx.table.column_header_cell(AppState.tr["owner.col.admins"]),
                rx.table.column_header_cell(AppState.tr["owner.col.month"]),
                rx.table.column_header_cell(AppState.tr["owner.cap"]),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(OwnerState.rows, _org_row)),
        width="100%",
        id="owner-orgs",
    )
    return admin_page(
        rx.hstack(
            rx.heading(AppState.tr["owner.title"], size="7"),
            rx.spacer(),
            rx.button(AppState.tr["usage.export"], on_click=OwnerState.export_usage, variant="soft", id="owner-export"),
            width="100%",
            margin_bottom="12px",
        ),
        message_callout(OwnerState.message, OwnerState.message_ok, "owner-message"),
        rx.vstack(
            rx.cond(OwnerState.applications.length() > 0, _applications()),
            card(table),
            _create_form(),
            rx.cond(OwnerState.rows.length() > 0, _invite_form()),
            rx.cond(OwnerState.rows.length() > 0, _manage_forms()),
            spacing="4",
            width="100%",
        ),
    )
