"""Importing recipients on the campaign page: upload (the file goes to disk,
never into the state), the column mapping with a preview of a few rows, the
import in the background with a progress bar, and the result with the rejected
rows. ``ImportState`` holds only the preview and the progress."""

from __future__ import annotations

import asyncio

import reflex as rx

from smspay_app.components.layout import card
from smspay_app.db import session_scope
from smspay_app.pages.campaigns.header import CampaignDetailState
from smspay_app.pages.campaigns.send_check import SendCheckState
from smspay_app.pages.campaigns.shared import SELECT_STYLE, route_campaign_id
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, quietly, raising, require

MAPPING_NONE = "__none__"
IMPORT_ERRORS_SHOWN = 100


class ImportState(AppState):
    mapping_open: bool = False
    map_info: str = ""
    map_headers: list[str] = []
    map_rows: list[list[str]] = []
    mapping: dict[str, str] = {}
    importing: bool = False
    import_done: int = 0
    import_total: int = 0
    import_message: str = ""
    import_ok: bool = True
    import_errors: list[dict[str, str]] = []
    import_more: str = ""
    _upload_token: str = ""
    _upload_name: str = ""
    _import_id: int = 0

    def _campaign_id(self) -> int:
        return route_campaign_id(self)

    @rx.var
    def import_percent(self) -> int:
        return int(100 * self.import_done / self.import_total) if self.import_total else 0

    def _open(self, caller: auth.Caller) -> None:
        """The page opened (``CampaignPageState.open``): no upload pending, no
        result of another visit shown."""
        self.import_message = ""
        self.import_errors = []
        self.import_more = ""
        self._discard(caller)

    # -- import: step 1, the file goes to disk, the page shows the mapping

    @rx.event
    @require("campaign.edit", refused=lambda state, exc: state._import_failed(state._refusal(exc)))
    async def handle_upload(self, files: list[rx.UploadFile], *, caller: auth.Caller):
        from smspay_app.domain.csv_import import CsvError
        from smspay_app.services import uploads

        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            status = campaign.status if campaign else None
        if status is None:
            self._import_failed(self._t("admin.error.not_found"))
            return
        if status not in campaigns.EDITABLE_STATES:
            self._import_failed(self._t("detail.upload.locked"))
            return
        if self.importing:
            self._import_failed(self._t("detail.import.busy"))
            return
        if not files:
            self._import_failed(self._t("detail.upload.none"))
            return
        self._discard(caller)
        upload = files[0]
        try:
            token = await uploads.store_upload_stream(caller.organisation_id, upload)
            data = uploads.load_upload(caller.organisation_id, token)
            preview = await asyncio.to_thread(uploads.preview_upload, data)
        except CsvError as exc:
            if "token" in locals():
                uploads.discard_upload(caller.organisation_id, token)
            self._import_failed(self._t("import.failed", reason=self._refusal(exc)))
            yield rx.clear_selected_files("csv")
            return
        self._upload_token = token
        self._upload_name = (getattr(upload, "filename", None) or getattr(upload, "name", None) or "")[:255]
        self.map_headers = preview.headers
        self.map_rows = preview.rows
        self.mapping = {f: preview.suggestion.get(f, MAPPING_NONE) for f in uploads.MAPPING_FIELDS}
        self.map_info = self._t(
            "detail.mapping.help", rows=f"{preview.total_rows:,}", encoding=preview.encoding.upper()
        )
        self.mapping_open = True
        self.import_message = ""
        self.import_errors = []
        self.import_more = ""
        yield rx.clear_selected_files("csv")

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_mapping(self, field_name: str, header: str):
        from smspay_app.services import uploads

        if field_name in uploads.MAPPING_FIELDS and (header in self.map_headers or header == MAPPING_NONE):
            self.mapping = {**self.mapping, field_name: header}

    @rx.event
    @require("campaign.edit", refused=quietly)
    def discard_upload(self, *, caller: auth.Caller):
        self._discard(caller)

    def _discard(self, caller: auth.Caller) -> None:
        from smspay_app.services import uploads

        if self._upload_token:
            uploads.discard_upload(caller.organisation_id, self._upload_token)
        self._upload_token = ""
        self.mapping_open = False
        self.map_headers, self.map_rows, self.mapping = [], [], {}

    def _import_failed(self, message: str) -> None:
        self.import_ok = False
        self.import_message = message
        self.import_errors = []
        self.import_more = ""

    # -- import: step 2, in the background with a progress bar

    @rx.event(background=True)
    @require("campaign.edit", refused=lambda state, exc: state._import_failed(state._refusal(exc)))
    async def run_import(self, *, caller: auth.Caller):
        from smspay_app.services import uploads
        from smspay_app.services.imports import import_recipients_csv

        async with self:
            if self.importing:
                return
            token, filename, lang = self._upload_token, self._upload_name, self.lang
            mapping = {f: h for f, h in self.mapping.items() if h and h != MAPPING_NONE}
            campaign_id = self._campaign_id()
            data = uploads.load_upload(caller.organisation_id, token) if token else None
            if data is None:
                self._discard(caller)
                self._import_failed(self._t("detail.import.expired"))
                return
            self.importing = True
            self.import_done, self.import_total = 0, 0
            self.mapping_open = False
            self.import_message = ""

        progress = {"done": 0, "total": 0}

        def report(done: int, total: int) -> None:
            progress["done"], progress["total"] = done, total

        def run():
            with session_scope() as session:
                campaign = campaigns.get_campaign(session, caller, campaign_id)
                if campaign is None:
                    return "missing"
                if campaign.status not in campaigns.EDITABLE_STATES:
                    return "locked"
                report_row = import_recipients_csv(
                    session,
                    campaign,
                    data,
                    filename=filename,
                    user_id=caller.user_id,
                    mapping=mapping,
                    lang=lang,
                    progress=report,
                )
                return report_row.id

        from smspay_app.services.imports import ImportWatch

        watch = ImportWatch(campaign_id)  # a stall or a failure logs one line
        task = asyncio.create_task(asyncio.to_thread(run))
        try:
            while not task.done():
                await asyncio.sleep(0.3)
                watch.tick(progress["done"], progress["total"])
                async with self:
                    self.import_done, self.import_total = progress["done"], progress["total"]
            result = task.result()
        except Exception as exc:
            watch.failed(exc)
            result = "error"
        uploads.discard_upload(caller.organisation_id, token)
        async with self:
            self.importing = False
            self._upload_token = ""
            self.import_done, self.import_total = progress["done"], progress["total"]
            if result == "missing":
                self._import_failed(self._t("admin.error.not_found"))
            elif result == "locked":
                self._import_failed(self._t("detail.upload.locked"))
            elif result == "error":
                self._import_failed(self._t("import.failed", reason=""))
            else:
                self._show_import(caller, result)
        return [CampaignDetailState.tick, SendCheckState.run_check]

    def _show_import(self, caller: auth.Caller, import_id: int) -> None:
        from smspay_app.models import RecipientImport
        from smspay_app.services.imports import report_errors

        with session_scope() as session:
            report = session.get(RecipientImport, import_id)
            if report is None or report.organisation_id != caller.organisation_id:
                return
            errors = report_errors(report)
        self._import_id = import_id
        if report.status == "failed":
            self._import_failed(report.message)
            return
        self.import_ok = True
        self.import_message = self._t(
            "detail.import.result",
            imported=report.imported_rows,
            rejected=report.rejected_rows,
            duplicates=report.duplicate_rows,
            opted_out=report.opted_out_rows,
        )
        self.import_errors = [
            {"row": str(e.get("row", "")), "column": str(e.get("column", "")), "reason": str(e.get("reason", ""))}
            for e in errors[:IMPORT_ERRORS_SHOWN]
        ]
        self.import_more = (
            self._t("detail.import.more", shown=IMPORT_ERRORS_SHOWN, total=f"{len(errors):,}")
            if len(errors) > IMPORT_ERRORS_SHOWN
            else ""
        )

    @rx.event
    @require("campaign.view", refused=quietly)
    def download_errors(self, *, caller: auth.Caller):
        from smspay_app.models import RecipientImport
        from smspay_app.services.imports import errors_csv

        with session_scope() as session:
            report = session.get(RecipientImport, self._import_id) if self._import_id else None
            if report is None or report.organisation_id != caller.organisation_id:
                return
            data = errors_csv(report, self.lang)
        return rx.download(data=data, filename=f"import-{report.id}-errors.csv", mime_type="text/csv")


def mapping_panel() -> rx.Component:
    from smspay_app.services.uploads import MAPPING_FIELDS

    s = ImportState

    def select_for(field_name: str) -> rx.Component:
        return rx.hstack(
            rx.text(AppState.tr[f"detail.field.{field_name}"], size="2", width="150px"),
            rx.el.select(
                rx.el.option(AppState.tr["detail.mapping.none"], value=MAPPING_NONE),
                rx.foreach(s.map_headers, lambda h: rx.el.option(h, value=h)),
                value=s.mapping[field_name],
                on_change=lambda v: ImportState.set_mapping(field_name, v),
                id=f"map-{field_name}",
                style=SELECT_STYLE,
            ),
            align="center",
        )

    return rx.vstack(
        rx.heading(AppState.tr["detail.mapping.title"], size="3"),
        rx.text(s.map_info, size="2", color="gray"),
        rx.grid(*[select_for(f) for f in MAPPING_FIELDS], columns="2", spacing="2", width="100%"),
        rx.text(AppState.tr["detail.mapping.preview"], size="2", weight="medium"),
        rx.box(
            rx.table.root(
                rx.table.header(rx.table.row(rx.foreach(s.map_headers, lambda h: rx.table.column_header_cell(h)))),
                rx.table.body(
                    rx.foreach(s.map_rows, lambda row: rx.table.row(rx.foreach(row, lambda v: rx.table.cell(v))))
                ),
                size="1",
                variant="surface",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.callout(AppState.tr["import.rule"], icon="info", size="1", id="import-rule"),
        rx.hstack(
            rx.button(
                AppState.tr["detail.mapping.confirm"],
                on_click=ImportState.run_import,
                color_scheme="teal",
                id="import-confirm",
            ),
            rx.button(
                AppState.tr["detail.mapping.discard"],
                on_click=ImportState.discard_upload,
                variant="soft",
                color_scheme="gray",
            ),
        ),
        width="100%",
        spacing="3",
        id="mapping",
        margin_top="12px",
    )


def upload_card() -> rx.Component:
    s = ImportState
    return card(
        rx.heading(AppState.tr["detail.upload.title"], size="4", margin_bottom="8px"),
        rx.cond(
            ~s.mapping_open & ~s.importing,
            rx.vstack(
                rx.upload(
                    rx.vstack(
                        rx.icon("file-up", size=28, color="var(--teal-9)"),
                        rx.text(AppState.tr["detail.upload.help"], size="2", color="gray", text_align="center"),
                        align="center",
                        spacing="2",
                    ),
                    id="csv",
                    multiple=False,
                    accept={"text/csv": [".csv", ".txt", ".tsv"]},
                    max_files=1,
                    border="2px dashed var(--gray-a6)",
                    border_radius="12px",
                    padding="24px",
                    width="100%",
                    cursor="pointer",
                ),
                rx.hstack(
                    rx.text(AppState.tr["detail.upload.selected"], size="2", color="gray"),
                    rx.foreach(rx.selected_files("csv"), lambda f: rx.text(f, size="2", weight="medium")),
                ),
                rx.button(
                    AppState.tr["detail.upload.read"],
                    on_click=ImportState.handle_upload(rx.upload_files(upload_id="csv")),
                    color_scheme="teal",
                    id="import-button",
                ),
                rx.text(AppState.tr["import.rule"], size="1", color="gray"),
                width="100%",
            ),
        ),
        rx.cond(s.mapping_open, mapping_panel()),
        rx.cond(
            s.importing,
            rx.vstack(
                rx.text(AppState.tr["detail.upload.title"], size="2"),
                rx.progress(value=s.import_percent, max=100, width="100%", id="import-progress"),
                rx.text(s.import_done, " / ", s.import_total, size="1", color="gray"),
                width="100%",
            ),
        ),
        rx.cond(
            s.import_message != "",
            rx.callout(
                s.import_message,
                color_scheme=rx.cond(s.import_ok, "green", "red"),
                icon=rx.cond(s.import_ok, "check", "triangle-alert"),
                margin_top="12px",
                id="import-result",
            ),
        ),
        rx.cond(
            s.import_errors.length() > 0,
            rx.vstack(
                rx.hstack(
                    rx.text(s.import_more, size="1", color="gray"),
                    rx.spacer(),
                    rx.button(
                        rx.icon("download", size=14),
                        AppState.tr["detail.import.download"],
                        on_click=ImportState.download_errors,
                        variant="soft",
                        size="1",
                        id="import-errors-download",
                    ),
                    width="100%",
                    align="center",
                ),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(AppState.tr["detail.import.col.row"]),
                            rx.table.column_header_cell(AppState.tr["detail.import.col.column"]),
                            rx.table.column_header_cell(AppState.tr["detail.import.col.reason"]),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            s.import_errors,
                            lambda e: rx.table.row(
                                rx.table.cell(e["row"]),
                                rx.table.cell(e["column"]),
                                rx.table.cell(e["reason"]),
                            ),
                        )
                    ),
                    size="1",
                    id="import-errors",
                ),
                width="100%",
                margin_top="8px",
            ),
        ),
    )
