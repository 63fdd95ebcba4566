"""The organisation's opt-out list: search, add, remove with a reason (in a
dialog), CSV import. Every handler checks ``optout.manage``."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.csv_import import CsvError
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import local_time, phone
from smspay_app.i18n import CATALOG
from smspay_app.models import Organisation
from smspay_app.services import auth, optouts
from smspay_app.services.support import SupportError
from smspay_app.state import AppState, quietly, require

PAGE_SIZE = optouts.PAGE_SIZE


class OptOutsState(AppState):
    q: str = ""
    page: int = 0
    total: int = 0
    rows: list[dict[str, str]] = []
    message: str = ""
    ok: bool = True
    import_errors: list[str] = []
    remove_open: bool = False
    remove_phone: str = ""
    remove_error: str = ""
    _remove_id: int = 0

    @rx.event
    @require(optouts.PERMISSION)
    def load(self, *, caller: auth.Caller):
        self.message = ""
        self.import_errors = []
        self.page = 0
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            tz = session.get(Organisation, caller.organisation_id).timezone
            rows, self.total = optouts.list_optouts(session, caller, q=self.q, page=self.page)
        self.rows = [
            {
                "id": str(r.id),
                "phone": phone(r.phone_e164),
                "reason": r.reason,
                "source": r.source if r.source in ("manual", "reply", "import", "api") else "manual",
                "at": local_time(r.created_at, tz),
                "by": r.created_by,
            }
            for r in rows
        ]

    def _refused(self, exc: Refused) -> None:
        self.ok, self.message = False, self._refusal(exc)

    @rx.event
    @require(optouts.PERMISSION)
    def search(self, form: dict, *, caller: auth.Caller):
        self.q = str(form.get("q", ""))[:40]
        self.page = 0
        self._refresh(caller)

    @rx.event
    @require(optouts.PERMISSION, refused=lambda state, exc: state._refused(exc))
    def add(self, form: dict, *, caller: auth.Caller):
        phone = str(form.get("phone", ""))[:40]
        try:
            with session_scope() as session:
                added = optouts.add_optout(session, caller, phone, str(form.get("reason", "")))
        except SupportError as exc:
            self.ok, self.message = False, self._refusal(exc)
            return
        self.ok = True
        self.message = self._t("ops.optouts.added" if added else "ops.optouts.exists", phone=phone)
        self._refresh(caller)
        return rx.set_value("optout-phone", "")

    @rx.event
    @require(optouts.PERMISSION, refused=quietly)
    def ask_remove(self, optout_id: str, *, caller: auth.Caller):
        row = next((r for r in self.rows if r["id"] == str(optout_id)), None)
        if row is None:
            return
        self._remove_id = int(row["id"])
        self.remove_phone = row["phone"]
        self.remove_error = ""
        self.remove_open = True

    @rx.event
    def set_remove_open(self, value: bool):
        self.remove_open = bool(value)

    @rx.event
    @require(optouts.PERMISSION, refused=lambda state, exc: setattr(state, "remove_error", state._refusal(exc)))
    def confirm_remove(self, form: dict, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                optouts.remove_optout(session, caller, self._remove_id, str(form.get("reason", "")))
        except SupportError as exc:
            self.remove_error = self._refusal(exc)
            return
        self.remove_open = False
        self.ok, self.message = True, self._t("ops.optouts.removed")
        self._refresh(caller)

    @rx.event
    @require(optouts.PERMISSION, refused=lambda state, exc: state._refused(exc))
    async def import_file(self, files: list[rx.UploadFile], *, caller: auth.Caller):
        if not files:
            self.ok, self.message = False, self._t("ops.error.no_file")
            return
        data = await files[0].read()
        try:
            with session_scope() as session:
                report = optouts.import_csv(session, caller, data, self._t("ops.optouts.import"))
        except CsvError as exc:
            self.ok, self.message = False, self._t("ops.error.file", message=self._refusal(exc))
            self.import_errors = []
            return
        self.ok = True
        self.message = self._t(
            "ops.optouts.import_result", added=report.added, already=report.already, rejected=report.rejected
        )
        self.import_errors = [
            self._t(
                "ops.optouts.import_row",
                row=e["row"],
                value=e["value"],
                reason=self._t(e["reason"]) if e["reason"] in CATALOG else e["reason"],
            )
            for e in report.errors[:50]
        ]
        self._refresh(caller)
        yield rx.clear_selected_files("optout_csv")

    @rx.event
    @require(optouts.PERMISSION, refused=quietly)
    def next_page(self, *, caller: auth.Caller):
        if (self.page + 1) * PAGE_SIZE < self.total:
            self.page += 1
        self._refresh(caller)

    @rx.event
    @require(optouts.PERMISSION, refused=quietly)
    def prev_page(self, *, caller: auth.Caller):
        self.page = max(0, self.page - 1)
        self._refresh(caller)


def _remove_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(AppState.tr["ops.optouts.remove_title"]),
            rx.dialog.description(OptOutsState.remove_phone, margin_bottom="8px"),
            rx.form(
                rx.vstack(
                    rx.text(AppState.tr["ops.action.reason"], size="2", weight="medium"),
                    rx.text_area(name="reason", id="remove-reason", rows="3", width="100%"),
                    rx.cond(
                        OptOutsState.remove_error != "",
                        rx.callout(
                            OptOutsState.remove_error,
                            color_scheme="red",
                            size="1",
                            icon="triangle-alert",
                            id="remove-error",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                AppState.tr["ops.action.cancel_dialog"],
                                variant="soft",
                                color_scheme="gray",
                                type="button",
                            )
                        ),
                        rx.button(
                            AppState.tr["ops.optouts.remove"], type="submit", color_scheme="red", id="remove-confirm"
                        ),
                        justify="end",
                        width="100%",
                    ),
                    width="100%",
                ),
                on_submit=OptOutsState.confirm_remove,
                reset_on_submit=False,
            ),
            max_width="480px",
        ),
        open=OptOutsState.remove_open,
        on_open_change=OptOutsState.set_remove_open,
    )


def optouts_page() -> rx.Component:
    return admin_page(
        rx.heading(AppState.tr["ops.optouts.title"], size="7", margin_bottom="4px"),
        rx.text(AppState.tr["ops.optouts.help"], color="gray", size="2", margin_bottom="16px"),
        rx.cond(
            OptOutsState.message != "",
            rx.callout(
                OptOutsState.message,
                color_scheme=rx.cond(OptOutsState.ok, "green", "red"),
                icon=rx.cond(OptOutsState.ok, "check", "triangle-alert"),
                margin_bottom="12px",
                id="optout-message",
            ),
        ),
        rx.cond(
            OptOutsState.import_errors.length() > 0,
            rx.callout(
                rx.vstack(rx.foreach(OptOutsState.import_errors, lambda e: rx.text(e, size="1"))),
                color_scheme="amber",
                margin_bottom="12px",
                id="optout-import-errors",
            ),
        ),
        rx.flex(
            card(
                rx.heading(AppState.tr["ops.optouts.add"], size="4", margin_bottom="8px"),
                rx.form(
                    rx.vstack(
                        rx.input(
                            name="phone", id="optout-phone", placeholder=AppState.tr["ops.optouts.phone"], width="100%"
                        ),
                        rx.input(
                            name="reason",
                            id="optout-reason",
                            placeholder=AppState.tr["ops.optouts.reason"],
                            width="100%",
                        ),
                        rx.button(
                            AppState.tr["ops.optouts.add_button"], type="submit", color_scheme="teal", id="optout-add"
                        ),
                    ),
                    on_submit=OptOutsState.add,
                    reset_on_submit=True,
                ),
                flex="1",
                min_width="280px",
            ),
            card(
                rx.heading(AppState.tr["ops.optouts.import"], size="4", margin_bottom="8px"),
                rx.text(AppState.tr["ops.optouts.import_help"], size="1", color="gray"),
                rx.upload(
                    rx.vstack(
                        rx.text(AppState.tr["ops.optouts.drop"], size="1", color="gray"),
                        rx.foreach(rx.selected_files("optout_csv"), lambda f: rx.text(f, size="2", weight="medium")),
                        align="center",
                        spacing="1",
                    ),
                    id="optout_csv",
                    multiple=False,
                    max_files=1,
                    accept={"text/csv": [".csv", ".txt"]},
                    border="2px dashed var(--gray-a6)",
                    border_radius="10px",
                    padding="12px",
                    width="100%",
                    margin_y="8px",
                ),
                rx.button(
                    AppState.tr["ops.optouts.import_button"],
                    on_click=OptOutsState.import_file(rx.upload_files(upload_id="optout_csv")),
                    id="optout-import",
                ),
                flex="1",
                min_width="280px",
            ),
            spacing="4",
            wrap="wrap",
            width="100%",
            margin_bottom="16px",
        ),
        card(
            rx.hstack(
                rx.form(
                    rx.hstack(
                        rx.input(name="q", placeholder=AppState.tr["ops.optouts.search"], id="optout-search"),
                        rx.button(rx.icon("search", size=14), type="submit", variant="soft"),
                    ),
                    on_submit=OptOutsState.search,
                ),
                rx.spacer(),
                rx.button(AppState.tr["ops.prev"], on_click=OptOutsState.prev_page, variant="soft", size="1"),
                rx.text(OptOutsState.page + 1, size="2"),
                rx.button(AppState.tr["ops.next"], on_click=OptOutsState.next_page, variant="soft", size="1"),
                width="100%",
                align="center",
                margin_bottom="12px",
            ),
            rx.cond(
                OptOutsState.rows.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(AppState.tr["ops.optouts.col.phone"]),
                            rx.table.column_header_cell(AppState.tr["ops.optouts.col.reason"]),
                            rx.table.column_header_cell(AppState.tr["ops.optouts.col.source"]),
                            rx.table.column_header_cell(AppState.tr["ops.optouts.col.at"]),
                            rx.table.column_header_cell(AppState.tr["ops.optouts.col.by"]),
                            rx.table.column_header_cell(""),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            OptOutsState.rows,
                            lambda r: rx.table.row(
                                rx.table.cell(r["phone"]),
                                rx.table.cell(r["reason"]),
                                rx.table.cell(
                                    rx.badge(AppState.tr["ops.optouts.source." + r["source"]], variant="soft")
                                ),
                                rx.table.cell(r["at"], white_space="nowrap"),
                                rx.table.cell(r["by"]),
                                rx.table.cell(
                                    rx.button(
                                        AppState.tr["ops.optouts.remove"],
                                        size="1",
                                        variant="soft",
                                        color_scheme="red",
                                        on_click=OptOutsState.ask_remove(r["id"]),
                                        class_name="optout-remove",
                                    )
                                ),
                            ),
                        )
                    ),
                    width="100%",
                    size="1",
                    id="optouts-table",
                ),
                rx.text(AppState.tr["ops.optouts.none"], color="gray", size="2"),
            ),
        ),
        _remove_dialog(),
    )
