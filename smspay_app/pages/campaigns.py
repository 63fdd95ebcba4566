"""Campaign pages: list, editor, and the campaign page (import, send, live
funnel, recipients). Handlers check the caller and call services."""

from __future__ import annotations

import asyncio

import reflex as rx

from smspay_app.components.layout import admin_page, card, stat
from smspay_app.components.ops import campaign_ops_links
from smspay_app.db import session_scope
from smspay_app.pages.state import AppState
from smspay_app.services import auth, campaigns

PAGE_SIZE = 50


def _yen(amount: int) -> str:
    return f"¥{amount:,}"


# ----------------------------------------------------------------- list


class CampaignListState(AppState):
    rows: list[dict[str, str]] = []

    @rx.event
    def load(self):
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return rx.redirect("/login")
        with session_scope() as session:
            listed = campaigns.list_campaigns(session, caller)
        self.rows = [
            {
                "id": str(c.id),
                "name": c.name,
                "status": c.status,
                "recipients": str(n["recipients"]),
                "sent": str(n["sent"]),
                "delivered": str(n["delivered"]),
                "clicked": str(n["clicked"]),
                "verified": str(n["verified"]),
                "paid": str(n["paid"]),
                "collected": _yen(n["paid_yen"]),
            }
            for c, n in listed
        ]


def status_badge(status) -> rx.Component:
    return rx.badge(
        AppState.tr["status." + status],
        color_scheme=rx.match(
            status,
            ("draft", "gray"),
            ("sending", "blue"),
            ("scheduled", "amber"),
            ("paused", "orange"),
            ("completed", "green"),
            ("cancelled", "red"),
            "gray",
        ),
        variant="soft",
    )


def campaigns_list_page() -> rx.Component:
    cols = ["campaigns.col.name", "campaigns.col.status", "campaigns.col.recipients", "funnel.sent", "funnel.delivered",
            "funnel.clicked", "funnel.verified", "funnel.paid", "campaigns.col.collected"]
    return admin_page(
        rx.hstack(
            rx.heading(AppState.tr["campaigns.title"], size="7"),
            rx.spacer(),
            rx.cond(
                AppState.user_role != "support",
                rx.link(rx.button(rx.icon("plus", size=16), AppState.tr["campaigns.new"], color_scheme="teal", id="new-campaign"), href="/campaigns/new"),
            ),
            width="100%",
            align="center",
            margin_bottom="16px",
        ),
        card(
            rx.cond(
                CampaignListState.rows.length() > 0,
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(AppState.tr[c]) for c in cols])),
                    rx.table.body(
                        rx.foreach(
                            CampaignListState.rows,
                            lambda r: rx.table.row(
                                rx.table.row_header_cell(rx.link(r["name"], href="/campaigns/" + r["id"], weight="medium")),
                                rx.table.cell(status_badge(r["status"])),
                                rx.table.cell(r["recipients"]),
                                rx.table.cell(r["sent"]),
                                rx.table.cell(r["delivered"]),
                                rx.table.cell(r["clicked"]),
                                rx.table.cell(r["verified"]),
                                rx.table.cell(r["paid"]),
                                rx.table.cell(r["collected"]),
                            ),
                        )
                    ),
                    width="100%",
                    variant="surface",
                ),
                rx.text(AppState.tr["campaigns.empty"], color="gray"),
            ),
        ),
    )


# ----------------------------------------------------------------- editor


class CampaignEditorState(AppState):
    template: str = ""
    sms_preview: str = ""
    sms_summary: str = ""
    sms_over_cap: bool = False
    sms_over_cap_text: str = ""
    ucs2_text: str = ""
    errors: list[str] = []

    @rx.event
    def start(self):
        try:
            self._caller("campaign.edit")
        except auth.NotAllowed:
            return rx.redirect("/login")
        self.errors = []
        if not self.template:
            self.template = self._t("editor.template.default")
        self._analyse()

    @rx.event
    def set_template(self, value: str):
        self.template = value[:2000]
        self._analyse()

    def _analyse(self) -> None:
        from smspay_app.domain.sms_text import TemplateError, analyze_sms, ensure_link_placeholder, render_sms, template_fields
        from smspay_app.models import Organisation
        from smspay_app.services.links import link_url

        caller = self._caller("campaign.edit")
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
        sample_fields = {f: ("山田 太郎" if f in ("name", "氏名") else "…") for f in template_fields(self.template)}
        try:
            text = render_sms(
                ensure_link_placeholder(self.template), sample_fields, link_url("X" * 22),
                sender_prefix=campaigns.sender_prefix(org),
            )
        except TemplateError:
            self.sms_preview = self.template
            self.sms_summary = self._t("campaign.error.template")
            return
        info = analyze_sms(text, org.carrier_char_cap)
        self.sms_preview = text
        self.sms_summary = self._t(
            "editor.segments", encoding=info.encoding, chars=info.chars, segments=info.segments,
            cost=f"{info.segments * org.segment_price_yen:g}",
        )
        self.sms_over_cap = info.over_cap
        self.sms_over_cap_text = self._t("editor.over_cap", cap=org.carrier_char_cap) if info.over_cap else ""
        shown = "".join(info.ucs2_chars[:12])
        self.ucs2_text = self._t("editor.ucs2_chars", chars=shown) if shown else ""

    @rx.event
    def submit(self, form: dict):
        from smspay_app.domain.csv_import import parse_amount_yen

        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            self.errors = [self._t("admin.error.not_allowed")]
            return
        payment_enabled = str(form.get("payment_enabled", "")).lower() in ("on", "true", "1")
        amount_raw = str(form.get("amount_yen", "") or "0")
        amount = parse_amount_yen(amount_raw) if amount_raw.strip() else 0
        errors: list[str] = []
        if amount is None:
            errors.append(self._t("campaign.error.amount_invalid"))
            amount = 0
        try:
            lifetime = int(str(form.get("link_lifetime_hours", "72")).strip() or "72")
        except ValueError:
            lifetime = -1
        questions = []
        if str(form.get("question_label", "")).strip() or str(form.get("question_column", "")).strip():
            questions.append(
                campaigns.QuestionInput(
                    label=str(form.get("question_label", "")),
                    column=str(form.get("question_column", "")),
                    kind=str(form.get("question_kind", "date") or "date"),
                )
            )
        data = campaigns.CampaignInput(
            name=str(form.get("name", "")),
            sms_template=self.template,
            page_title=str(form.get("page_title", "")),
            page_message=str(form.get("page_message", "")),
            payment_enabled=payment_enabled,
            amount_yen=amount,
            link_lifetime_hours=lifetime,
            questions=questions,
        )
        try:
            with session_scope() as session:
                campaign = campaigns.create_campaign(session, caller, data)
        except campaigns.CampaignInvalid as exc:
            self.errors = errors + [self._t(e.key) for e in exc.errors]
            return
        if errors:
            self.errors = errors
            return
        self.errors = []
        self.template = ""
        return rx.redirect(f"/campaigns/{campaign.id}")


def _field(label_key: str, control: rx.Component, help_key: str | None = None) -> rx.Component:
    return rx.vstack(
        rx.text(AppState.tr[label_key], size="2", weight="medium"),
        control,
        rx.cond(help_key is not None, rx.text(AppState.tr[help_key] if help_key else "", size="1", color="gray")),
        spacing="1",
        width="100%",
    )


def phone_preview() -> rx.Component:
    return rx.box(
        rx.text(AppState.tr["editor.preview"], size="1", color="gray", margin_bottom="6px"),
        rx.box(
            rx.box(
                rx.text(CampaignEditorState.sms_preview, size="2", white_space="pre-wrap", word_break="break-all", id="sms-preview"),
                background="#e9e9eb",
                border_radius="16px",
                padding="10px 12px",
            ),
            background="white",
            border="8px solid #1f2937",
            border_radius="28px",
            padding="28px 12px",
            min_height="260px",
            width="260px",
        ),
        rx.text(CampaignEditorState.sms_summary, size="2", margin_top="8px", id="sms-summary"),
        rx.cond(CampaignEditorState.ucs2_text != "", rx.text(CampaignEditorState.ucs2_text, size="1", color="gray")),
        rx.cond(
            CampaignEditorState.sms_over_cap,
            rx.callout(CampaignEditorState.sms_over_cap_text, color_scheme="red", size="1", icon="triangle-alert", id="sms-over-cap"),
        ),
    )


def campaign_new_page() -> rx.Component:
    return admin_page(
        rx.heading(AppState.tr["editor.title"], size="7", margin_bottom="16px"),
        rx.form(
            rx.flex(
                rx.vstack(
                    card(
                        rx.heading(AppState.tr["editor.section.basics"], size="4"),
                        _field("editor.name", rx.input(name="name", id="campaign-name", placeholder=AppState.tr["editor.name.placeholder"], width="100%", size="3")),
                        _field("editor.lifetime", rx.input(name="link_lifetime_hours", id="lifetime", default_value="72", type="number", width="160px")),
                    ),
                    card(
                        rx.heading(AppState.tr["editor.section.sms"], size="4"),
                        _field(
                            "editor.template",
                            rx.text_area(value=CampaignEditorState.template, on_change=CampaignEditorState.set_template, id="sms-template", name="sms_template", rows="5", width="100%"),
                            "editor.template.help",
                        ),
                    ),
                    card(
                        rx.heading(AppState.tr["editor.section.page"], size="4"),
                        _field("editor.page_title", rx.input(name="page_title", id="page-title", width="100%")),
                        _field("editor.page_message", rx.text_area(name="page_message", id="page-message", default_value=AppState.tr["editor.page_message.default"], rows="4", width="100%")),
                    ),
                    card(
                        rx.heading(AppState.tr["editor.section.identity"], size="4"),
                        _field("editor.question_label", rx.input(name="question_label", id="question-label", default_value=AppState.tr["editor.question_label.default"], width="100%")),
                        rx.hstack(
                            _field("editor.question_column", rx.input(name="question_column", id="question-column", default_value="生年月日", width="100%")),
                            _field(
                                "editor.question_kind",
                                rx.select.root(
                                    rx.select.trigger(id="question-kind"),
                                    rx.select.content(
                                        *[rx.select.item(AppState.tr[f"editor.kind.{k}"], value=k) for k in campaigns.QUESTION_KINDS]
                                    ),
                                    name="question_kind",
                                    default_value="date",
                                ),
                            ),
                            width="100%",
                        ),
                    ),
                    card(
                        rx.heading(AppState.tr["editor.section.payment"], size="4"),
                        rx.hstack(rx.switch(name="payment_enabled", default_checked=True, id="payment-enabled"), rx.text(AppState.tr["editor.payment_enabled"], size="2"), align="center"),
                        _field("editor.amount", rx.input(name="amount_yen", id="amount", width="200px", input_mode="numeric"), "editor.amount.help"),
                    ),
                    rx.cond(
                        CampaignEditorState.errors.length() > 0,
                        rx.callout(
                            rx.vstack(rx.foreach(CampaignEditorState.errors, lambda e: rx.text(e, size="2"))),
                            icon="triangle-alert", color_scheme="red", width="100%", id="editor-errors",
                        ),
                    ),
                    rx.hstack(
                        rx.button(AppState.tr["editor.create"], type="submit", size="3", color_scheme="teal", id="create-campaign", disabled=CampaignEditorState.sms_over_cap),
                        rx.link(rx.button(AppState.tr["editor.cancel"], variant="soft", color_scheme="gray", size="3", type="button"), href="/campaigns"),
                    ),
                    spacing="4",
                    flex="1",
                    min_width="0",
                ),
                rx.box(phone_preview(), position="sticky", top="24px"),
                spacing="6",
                align="start",
            ),
            on_submit=CampaignEditorState.submit,
        ),
    )


# ----------------------------------------------------------------- detail


class CampaignDetailState(AppState):
    found: bool = True
    name: str = ""
    status: str = ""
    sms_template: str = ""
    summary_lines: list[str] = []
    counts: dict[str, str] = {}
    recipients: list[dict[str, str]] = []
    page: int = 0
    recipient_total: int = 0
    import_message: str = ""
    import_ok: bool = True
    import_errors: list[dict[str, str]] = []
    importing: bool = False
    action_message: str = ""

    def _campaign_id(self) -> int:
        try:
            # The page's dynamic route argument ("/campaigns/[campaign_id]").
            return int(getattr(self, "campaign_id", "0") or "0")
        except (TypeError, ValueError):
            return 0

    @rx.event
    def load(self):
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return rx.redirect("/login")
        self.page = 0
        self.import_message = ""
        self.import_errors = []
        self.action_message = ""
        self._refresh(caller)

    @rx.event
    def tick(self, _value=None):
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            if campaign is None:
                self.found = False
                self.name = ""
                self.counts = {}
                self.recipients = []
                return
            self.found = True
            self.name = campaign.name
            self.status = campaign.status
            self.sms_template = campaign.sms_template
            questions = campaigns.questions_of(session, campaign.id)
            self.summary_lines = [
                self._t("detail.lifetime", hours=campaign.link_lifetime_hours),
                self._t("detail.amount", amount=_yen(campaign.amount_yen)) if campaign.payment_enabled else self._t("detail.no_payment"),
                *[f"{self._t('detail.questions')}: {q.label} ({q.column})" for q in questions],
            ]
            counts = campaigns.funnel_counts(session, campaign.id)
            self.recipient_total = counts["recipients"]
            self.counts = {k: (_yen(v) if k.endswith("_yen") else str(v)) for k, v in counts.items()}
            rows = campaigns.recipients_page(session, caller, campaign.id, offset=self.page * PAGE_SIZE, limit=PAGE_SIZE)
        self.recipients = [
            {
                "phone": r.phone_e164,
                "name": r.name,
                "amount": _yen(r.amount_yen),
                "status": r.status,
            }
            for r in rows
        ]

    @rx.event
    def next_page(self):
        if (self.page + 1) * PAGE_SIZE < self.recipient_total:
            self.page += 1
        return CampaignDetailState.tick

    @rx.event
    def prev_page(self):
        self.page = max(0, self.page - 1)
        return CampaignDetailState.tick

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]):
        from smspay_app.services.imports import import_recipients_csv

        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            self.import_ok = False
            self.import_message = self._t("admin.error.not_allowed")
            return
        if not files:
            self.import_ok = False
            self.import_message = self._t("detail.upload.none")
            return
        upload = files[0]
        data = await upload.read()
        campaign_id = self._campaign_id()
        lang = self.lang

        def run():
            with session_scope() as session:
                campaign = campaigns.get_campaign(session, caller, campaign_id)
                if campaign is None:
                    return None
                if campaign.status != "draft":
                    return "locked"
                return import_recipients_csv(session, campaign, data, filename=upload.filename or "", user_id=caller.user_id, lang=lang)

        self.importing = True
        yield
        report = await asyncio.to_thread(run)
        self.importing = False
        if report is None:
            self.import_ok = False
            self.import_message = self._t("admin.error.not_found")
        elif report == "locked":
            self.import_ok = False
            self.import_message = self._t("detail.upload.locked")
        else:
            self._show_import(report)
            self._refresh(caller)
        yield rx.clear_selected_files("csv")

    def _show_import(self, report) -> None:
        import json

        if report.status == "failed":
            self.import_ok = False
            self.import_message = self._t("detail.import.failed", message=report.message)
            self.import_errors = []
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
            for e in json.loads(report.errors or "[]")[:100]
        ]

    @rx.event
    def send(self):
        from smspay_app.services import dispatch

        try:
            caller = self._caller("campaign.send")
        except auth.NotAllowed:
            self.action_message = self._t("admin.error.not_allowed")
            return
        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            if campaign is None:
                self.action_message = self._t("admin.error.not_found")
                return
            try:
                queued = dispatch.start_sending(session, campaign, caller.user_id)
            except ValueError as exc:
                key = str(exc.args[0]) if exc.args else "error.generic"
                from smspay_app.i18n import CATALOG

                self.action_message = self._t(key) if key in CATALOG else str(exc)
                return
        self.action_message = self._t("detail.sending_started", count=queued)
        self._refresh(caller)


def _funnel_cards() -> rx.Component:
    c = CampaignDetailState.counts
    return rx.flex(
        stat(AppState.tr["funnel.recipients"], c["recipients"], test_id="count-recipients"),
        stat(AppState.tr["funnel.sent"], c["sent"], "blue", "count-sent"),
        stat(AppState.tr["funnel.delivered"], c["delivered"], "cyan", "count-delivered"),
        stat(AppState.tr["funnel.clicked"], c["clicked"], "violet", "count-clicked"),
        stat(AppState.tr["funnel.verified"], c["verified"], "amber", "count-verified"),
        stat(AppState.tr["funnel.paid"], c["paid"], "green", "count-paid"),
        stat(AppState.tr["funnel.collected"], c["paid_yen"], "green", "collected"),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def _upload_card() -> rx.Component:
    return card(
        rx.heading(AppState.tr["detail.upload.title"], size="4", margin_bottom="8px"),
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
            margin_top="8px",
        ),
        rx.button(
            AppState.tr["detail.upload.button"],
            on_click=CampaignDetailState.handle_upload(rx.upload_files(upload_id="csv")),
            loading=CampaignDetailState.importing,
            color_scheme="teal",
            margin_top="8px",
            id="import-button",
        ),
        rx.cond(
            CampaignDetailState.import_message != "",
            rx.callout(
                CampaignDetailState.import_message,
                color_scheme=rx.cond(CampaignDetailState.import_ok, "green", "red"),
                icon=rx.cond(CampaignDetailState.import_ok, "check", "triangle-alert"),
                margin_top="12px",
                id="import-result",
            ),
        ),
        rx.cond(
            CampaignDetailState.import_errors.length() > 0,
            rx.table.root(
                rx.table.header(rx.table.row(
                    rx.table.column_header_cell(AppState.tr["detail.import.col.row"]),
                    rx.table.column_header_cell(AppState.tr["detail.import.col.column"]),
                    rx.table.column_header_cell(AppState.tr["detail.import.col.reason"]),
                )),
                rx.table.body(rx.foreach(CampaignDetailState.import_errors, lambda e: rx.table.row(
                    rx.table.cell(e["row"]), rx.table.cell(e["column"]), rx.table.cell(e["reason"]),
                ))),
                size="1",
                margin_top="8px",
                id="import-errors",
            ),
        ),
    )


def _recipients_card() -> rx.Component:
    return card(
        rx.hstack(
            rx.heading(AppState.tr["detail.recipients"], size="4"),
            rx.spacer(),
            rx.button(AppState.tr["detail.page_prev"], on_click=CampaignDetailState.prev_page, variant="soft", size="1"),
            rx.text(CampaignDetailState.page + 1, size="2"),
            rx.button(AppState.tr["detail.page_next"], on_click=CampaignDetailState.next_page, variant="soft", size="1"),
            align="center",
            width="100%",
            margin_bottom="8px",
        ),
        rx.cond(
            CampaignDetailState.recipients.length() > 0,
            rx.table.root(
                rx.table.header(rx.table.row(
                    rx.table.column_header_cell(AppState.tr["detail.col.phone"]),
                    rx.table.column_header_cell(AppState.tr["detail.col.name"]),
                    rx.table.column_header_cell(AppState.tr["detail.col.amount"]),
                    rx.table.column_header_cell(AppState.tr["detail.col.status"]),
                )),
                rx.table.body(rx.foreach(CampaignDetailState.recipients, lambda r: rx.table.row(
                    rx.table.cell(r["phone"]),
                    rx.table.cell(r["name"]),
                    rx.table.cell(r["amount"]),
                    rx.table.cell(rx.badge(AppState.tr["rstatus." + r["status"]], variant="soft")),
                ))),
                width="100%",
                id="recipients-table",
            ),
            rx.text(AppState.tr["detail.recipients.empty"], color="gray", size="2"),
        ),
    )


def campaign_detail_page() -> rx.Component:
    return admin_page(
        rx.moment(interval=2000, on_change=CampaignDetailState.tick, display="none"),
        rx.link(AppState.tr["detail.back"], href="/campaigns", size="2"),
        rx.cond(
            CampaignDetailState.found,
            rx.vstack(
                rx.hstack(
                    rx.heading(CampaignDetailState.name, size="7", id="campaign-title"),
                    status_badge(CampaignDetailState.status),
                    rx.badge(rx.icon("radio", size=12), AppState.tr["detail.live"], color_scheme="green", variant="outline"),
                    rx.spacer(),
                    campaign_ops_links(),
                    rx.cond(
                        (CampaignDetailState.status == "draft") & (AppState.user_role != "support") & (CampaignDetailState.recipient_total > 0),
                        rx.button(rx.icon("send", size=16), AppState.tr["detail.send"], on_click=CampaignDetailState.send, color_scheme="teal", size="3", id="send-button"),
                    ),
                    align="center",
                    width="100%",
                    spacing="3",
                ),
                rx.cond(CampaignDetailState.action_message != "", rx.callout(CampaignDetailState.action_message, icon="info", width="100%", id="action-message")),
                _funnel_cards(),
                rx.flex(
                    rx.box(
                        rx.cond(
                            (CampaignDetailState.status == "draft") & (AppState.user_role != "support"),
                            _upload_card(),
                        ),
                        flex="2",
                        min_width="0",
                    ),
                    rx.box(
                        card(
                            rx.heading(AppState.tr["detail.sms_text"], size="4", margin_bottom="8px"),
                            rx.text(CampaignDetailState.sms_template, size="2", white_space="pre-wrap", background="var(--gray-3)", padding="10px", border_radius="8px"),
                            rx.vstack(rx.foreach(CampaignDetailState.summary_lines, lambda s: rx.text(s, size="2", color="gray")), spacing="1", margin_top="8px"),
                        ),
                        flex="1",
                        min_width="260px",
                    ),
                    spacing="4",
                    width="100%",
                    wrap="wrap",
                ),
                _recipients_card(),
                spacing="4",
                width="100%",
                margin_top="8px",
            ),
            rx.callout(AppState.tr["admin.error.not_found"], color_scheme="red", icon="triangle-alert", margin_top="16px"),
        ),
    )
