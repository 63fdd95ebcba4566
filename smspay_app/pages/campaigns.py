"""Campaign pages: list, the editor (a guided flow with a live phone preview)
and the campaign page (import with a mapping step, checks before send, send /
schedule / pause / resume / cancel, live progress and funnel, recipients).
Handlers check the caller and call services; bulk data stays in the database."""

from __future__ import annotations

import asyncio

import reflex as rx

from smspay_app.components.funnel import campaign_funnel_panel
from smspay_app.components.layout import admin_page, card, funnel_stats, stat
from smspay_app.components.ops import campaign_ops_links
from smspay_app.db import session_scope
from smspay_app.models import Organisation
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
    cols = [
        "campaigns.col.name",
        "campaigns.col.status",
        "campaigns.col.recipients",
        "funnel.sent",
        "funnel.delivered",
        "funnel.clicked",
        "funnel.verified",
        "funnel.paid",
        "campaigns.col.collected",
    ]
    return admin_page(
        rx.hstack(
            rx.heading(AppState.tr["campaigns.title"], size="7"),
            rx.spacer(),
            rx.cond(
                AppState.user_role != "support",
                rx.link(
                    rx.button(
                        rx.icon("plus", size=16), AppState.tr["campaigns.new"], color_scheme="teal", id="new-campaign"
                    ),
                    href="/campaigns/new",
                ),
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
                                rx.table.row_header_cell(
                                    rx.link(r["name"], href="/campaigns/" + r["id"], weight="medium")
                                ),
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
#
# A guided flow in five steps (basics & sending, SMS text, recipient page,
# identity check, review) over one small state; the phone preview with size
# and cost stays beside every step. The service validates; the page maps each
# problem to its step.

STEPS = (1, 2, 3, 4, 5)
_STEP_OF_FIELD = {
    "name": 1,
    "link_lifetime_hours": 1,
    "scheduled_at": 1,
    "quiet_hours": 1,
    "sms_template": 2,
    "amount_yen": 3,
    "invoice_lines": 3,
    "due_date": 3,
    "questions": 4,
    "verification_mode": 4,
}
_TEXT_FIELDS = (
    "name",
    "lifetime_value",
    "lifetime_unit",
    "send_mode",
    "scheduled_local",
    "quiet_mode",
    "quiet_start",
    "quiet_end",
    "page_title",
    "page_message",
    "amount",
    "due_date",
    "verification_mode",
)
_BOOL_FIELDS = ("payment_enabled", "ask_read")
_LINE_KEYS = ("item", "quantity", "unit_price")
_QUESTION_KEYS = ("label", "column", "kind")
PREVIEW_ROWS_LIMIT = 2000  # the editor's live estimate; the send check covers every row


def _step_of(field_name: str) -> int:
    return _STEP_OF_FIELD.get(field_name.split(".")[0], 5)


class CampaignEditorState(AppState):
    step: int = 1
    editing: bool = False
    # step 1
    name: str = ""
    lifetime_value: str = "72"
    lifetime_unit: str = "hours"
    send_mode: str = "now"
    scheduled_local: str = ""
    quiet_mode: str = "org"
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    org_quiet: str = ""
    timezone: str = ""
    # step 2
    template: str = ""
    sms_preview: str = ""
    sms_summary: str = ""
    sms_cost: str = ""
    sms_over_cap: bool = False
    sms_over_cap_text: str = ""
    ucs2_text: str = ""
    fields_text: str = ""
    template_note: str = ""
    preview_note: str = ""
    # step 3
    page_title: str = ""
    page_message: str = ""
    payment_enabled: bool = True
    amount: str = ""
    due_date: str = ""
    ask_read: bool = False
    lines: list[dict[str, str]] = []
    lines_total: str = ""
    # step 4
    verification_mode: str = "questions"
    questions: list[dict[str, str]] = []
    # review and errors
    review: list[list[str]] = []
    errors: list[str] = []
    error_steps: list[int] = []
    _editing_id: int = 0

    # -- loading

    @rx.event
    def start(self):
        """/campaigns/new: a fresh draft with helpful defaults."""
        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            return rx.redirect("/login")
        self._reset_form()
        self._editing_id = 0
        self.editing = False
        self.template = self._t("editor.template.default")
        self.page_message = self._t("editor.page_message.default")
        self.questions = [
            {
                "label": self._t("editor.question_label.default"),
                "column": self._t("editor.question_column.default"),
                "kind": "date",
            }
        ]
        self._org_defaults(caller)
        self._analyse(caller)

    @rx.event
    def start_edit(self):
        """/campaigns/[id]/edit: the saved draft of the caller's organisation."""
        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            return rx.redirect("/login")
        self._reset_form()
        campaign_id = _route_campaign_id(self)
        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, campaign_id)
            if campaign is None or campaign.status not in campaigns.EDITABLE_STATES:
                return rx.redirect(f"/campaigns/{campaign_id}" if campaign else "/campaigns")
            data = campaigns.campaign_input(session, campaign)
        self._editing_id = campaign_id
        self.editing = True
        self._org_defaults(caller)
        self._fill(data)
        self._analyse(caller)

    def _reset_form(self) -> None:
        self.step = 1
        self.errors, self.error_steps, self.review = [], [], []
        self.name = self.page_title = self.amount = self.due_date = self.scheduled_local = ""
        self.lifetime_value, self.lifetime_unit = "72", "hours"
        self.send_mode, self.quiet_mode = "now", "org"
        self.payment_enabled, self.ask_read = True, False
        self.lines, self.questions = [], []
        self.verification_mode = "questions"
        self.lines_total = ""

    def _org_defaults(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
            self.timezone = org.timezone
            self.org_quiet = self._t("editor.quiet.org", start=org.quiet_hours_start, end=org.quiet_hours_end)
            if self.quiet_mode == "org":
                self.quiet_start, self.quiet_end = org.quiet_hours_start or "21:00", org.quiet_hours_end or "08:00"

    def _fill(self, data: campaigns.CampaignInput) -> None:
        self.name = data.name
        hours = data.link_lifetime_hours
        if hours % 24 == 0 and hours >= 48:
            self.lifetime_value, self.lifetime_unit = str(hours // 24), "days"
        else:
            self.lifetime_value, self.lifetime_unit = str(hours), "hours"
        if data.scheduled_at:
            self.send_mode = "at"
            self.scheduled_local = _utc_to_local(data.scheduled_at, self.timezone)
        if data.quiet_hours_start and data.quiet_hours_end:
            self.quiet_mode = "override"
            self.quiet_start, self.quiet_end = data.quiet_hours_start, data.quiet_hours_end
        self.template = data.sms_template
        self.page_title = data.page_title
        self.page_message = data.page_message
        self.payment_enabled = data.payment_enabled
        self.amount = str(data.amount_yen) if data.amount_yen and not data.invoice_lines else ""
        self.due_date = data.due_date.isoformat() if data.due_date else ""
        self.ask_read = data.ask_read_confirmation
        self.lines = [
            {"item": l.item, "quantity": str(l.quantity), "unit_price": str(l.unit_price_yen)}
            for l in data.invoice_lines
        ]
        self.verification_mode = data.verification_mode
        self.questions = [{"label": q.label, "column": q.column, "kind": q.kind} for q in data.questions]
        self._lines_total()

    # -- field changes

    @rx.event
    def set_field(self, field_name: str, value):
        self._caller("campaign.edit")
        if field_name in _TEXT_FIELDS:
            setattr(self, field_name, str(value or "")[:2000])
        elif field_name in _BOOL_FIELDS:
            setattr(self, field_name, bool(value))
        if field_name == "amount" or field_name == "payment_enabled":
            self._lines_total()

    @rx.event
    def set_template(self, value: str):
        caller = self._caller("campaign.edit")
        self.template = str(value or "")[:2000]
        self._analyse(caller)

    @rx.event
    def add_line(self):
        self._caller("campaign.edit")
        if len(self.lines) < campaigns.MAX_INVOICE_LINES:
            self.lines = self.lines + [{"item": "", "quantity": "1", "unit_price": ""}]

    @rx.event
    def remove_line(self, index: int):
        self._caller("campaign.edit")
        self.lines = [l for i, l in enumerate(self.lines) if i != int(index)]
        self._lines_total()

    @rx.event
    def set_line(self, index: int, key: str, value: str):
        self._caller("campaign.edit")
        index = int(index)
        if key in _LINE_KEYS and 0 <= index < len(self.lines):
            lines = [dict(l) for l in self.lines]
            lines[index][key] = str(value or "")[:200]
            self.lines = lines
            self._lines_total()

    @rx.event
    def add_question(self):
        self._caller("campaign.edit")
        if len(self.questions) < campaigns.MAX_QUESTIONS:
            self.questions = self.questions + [{"label": "", "column": "", "kind": "text"}]

    @rx.event
    def remove_question(self, index: int):
        self._caller("campaign.edit")
        self.questions = [q for i, q in enumerate(self.questions) if i != int(index)]

    @rx.event
    def set_question(self, index: int, key: str, value: str):
        self._caller("campaign.edit")
        index = int(index)
        if key in _QUESTION_KEYS and 0 <= index < len(self.questions):
            questions = [dict(q) for q in self.questions]
            questions[index][key] = str(value or "")[:200]
            self.questions = questions

    # -- steps

    @rx.event
    def go(self, step: int):
        caller = self._caller("campaign.edit")
        step = max(1, min(5, int(step)))
        if step > self.step:
            problems = self._problems(caller)
            blocking = [p for p in problems if self.step <= p[0] < step]
            if blocking:
                self.step = blocking[0][0]
                self._show(problems, only_step=self.step)
                return
        self.step = step
        if step == 5:
            self._show(self._problems(caller))
            self._build_review(caller)
        else:
            self.errors, self.error_steps = [], []

    @rx.event
    def next_step(self):
        return CampaignEditorState.go(self.step + 1)

    @rx.event
    def prev_step(self):
        self.step = max(1, self.step - 1)
        self.errors, self.error_steps = [], []

    @rx.event
    def submit(self, form: dict | None = None):
        """Save (create or update). ``form`` values, when given, override the
        fields of the same name (the state holds everything otherwise)."""
        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            self.errors = [self._t("admin.error.not_allowed")]
            return
        for key, value in (form or {}).items():
            target = {"amount_yen": "amount"}.get(key, key)
            if target in _TEXT_FIELDS:
                setattr(self, target, str(value or "")[:2000])
            elif target == "sms_template":
                self.template = str(value or "")[:2000]
        data, parse_errors = self._input(caller)
        if parse_errors:
            self._show([(_step_of(e.field), self._t(e.key)) for e in parse_errors])
            return
        try:
            with session_scope() as session:
                if self._editing_id:
                    campaign = campaigns.update_campaign(session, caller, self._editing_id, data)
                else:
                    campaign = campaigns.create_campaign(session, caller, data)
                campaign_id = campaign.id
        except campaigns.CampaignInvalid as exc:
            self._show([(_step_of(e.field), self._t(e.key)) for e in exc.errors])
            return
        self.errors, self.error_steps = [], []
        self.template = ""
        return rx.redirect(f"/campaigns/{campaign_id}")

    # -- helpers

    def _input(self, caller: auth.Caller) -> tuple[campaigns.CampaignInput, list[campaigns.FieldError]]:
        from smspay_app.domain.csv_import import parse_amount_yen, parse_date

        errors: list[campaigns.FieldError] = []
        amount = 0
        if self.payment_enabled and self.amount.strip():
            parsed = parse_amount_yen(self.amount)
            if parsed is None:
                errors.append(campaigns.FieldError("amount_yen", "campaign.error.amount_invalid"))
            else:
                amount = parsed
        lifetime = _int(self.lifetime_value)
        if lifetime is None:
            lifetime = -1
        elif self.lifetime_unit == "days":
            lifetime *= 24
        scheduled_at = None
        if self.send_mode == "at":
            scheduled_at = _local_to_utc(self.scheduled_local, self.timezone)
            if scheduled_at is None:
                errors.append(campaigns.FieldError("scheduled_at", "campaign.error.schedule_invalid"))
        due = None
        if self.due_date.strip():
            due = parse_date(self.due_date.strip())
            if due is None:
                errors.append(campaigns.FieldError("due_date", "campaign.error.due_date_invalid"))
        lines = []
        for line in self.lines:
            if not any(str(v).strip() for v in line.values()):
                continue
            qty, price = _int(line.get("quantity", "")), parse_amount_yen(line.get("unit_price", "") or "x")
            lines.append(
                campaigns.InvoiceLineInput(
                    line.get("item", ""), qty if qty is not None else 0, price if price is not None else -1
                )
            )
        questions = [
            campaigns.QuestionInput(q.get("label", ""), q.get("column", ""), q.get("kind", "text"))
            for q in self.questions
            if any(str(v).strip() for k, v in q.items() if k != "kind")
        ]
        override = self.quiet_mode == "override"
        data = campaigns.CampaignInput(
            name=self.name,
            sms_template=self.template,
            page_title=self.page_title,
            page_message=self.page_message,
            payment_enabled=self.payment_enabled,
            amount_yen=amount,
            due_date=due,
            link_lifetime_hours=lifetime,
            questions=questions if self.verification_mode == "questions" else [],
            invoice_lines=lines if self.payment_enabled else [],
            ask_read_confirmation=self.ask_read and not self.payment_enabled,
            verification_mode=self.verification_mode,
            scheduled_at=scheduled_at,
            quiet_hours_start=self.quiet_start.strip() if override else None,
            quiet_hours_end=self.quiet_end.strip() if override else None,
        )
        return data, errors

    def _problems(self, caller: auth.Caller) -> list[tuple[int, str]]:
        """(step, message) for everything wrong, in step order."""
        data, parse_errors = self._input(caller)
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
            errors = parse_errors + campaigns.validate(data, org)
        return sorted({(_step_of(e.field), self._t(e.key)) for e in errors})

    def _show(self, problems: list[tuple[int, str]], only_step: int | None = None) -> None:
        shown = [p for p in problems if only_step is None or p[0] == only_step]
        self.errors = list(dict.fromkeys(message for _, message in shown))
        self.error_steps = sorted({step for step, _ in problems})

    def _lines_total(self) -> None:
        from smspay_app.domain.csv_import import parse_amount_yen

        total = 0
        for line in self.lines:
            qty, price = _int(line.get("quantity", "")), parse_amount_yen(line.get("unit_price", "") or "x")
            total += max(0, qty or 0) * max(0, price or 0)
        self.lines_total = self._t("editor.lines_total", total=_yen(total)) if self.lines else ""

    def _build_review(self, caller: auth.Caller) -> None:
        data, _ = self._input(caller)
        hours = data.link_lifetime_hours
        send = self._t("editor.send_now") if data.scheduled_at is None else self.scheduled_local.replace("T", " ")
        page = (
            self._t("detail.amount", amount=_yen(data.effective_amount()))
            if data.payment_enabled
            else self._t("detail.no_payment")
        )
        if data.verification_mode == "otp":
            identity = self._t("editor.verification.otp")
        else:
            identity = (
                " / ".join(
                    self._t(
                        "editor.review.question", label=q.label, column=q.column, kind=self._t("editor.kind." + q.kind)
                    )
                    for q in data.questions
                )
                or "-"
            )
        self.review = [
            [self._t("editor.review.name"), data.name],
            [self._t("editor.review.send"), f"{send} · {self._t('detail.lifetime', hours=hours)}"],
            [self._t("editor.review.sms"), self.sms_summary],
            [self._t("editor.review.page"), f"{data.page_title or data.name} · {page}"],
            [self._t("editor.review.identity"), identity],
        ]

    def _analyse(self, caller: auth.Caller) -> None:
        """Live SMS preview as received, size and cost. Before recipients exist
        the merge fields get sample values; after import, the first recipient's
        real data and the worst case over the rows."""
        from sqlmodel import select

        from smspay_app.domain.sms_text import (
            TemplateError,
            analyze_sms,
            check_template,
            estimate_cost_yen,
            fields_from_merge_data,
            has_link_placeholder,
            render_sms,
            template_fields,
        )
        from smspay_app.models import Recipient
        from smspay_app.services.imports import estimate_campaign_sms
        from smspay_app.services.links import link_url

        template = self.template
        fields = template_fields(template)
        self.fields_text = (
            self._t("editor.fields", fields=", ".join(fields)) if fields else self._t("editor.fields.none")
        )
        self.template_note = (
            "" if has_link_placeholder(template) or not template.strip() else self._t("editor.link_added")
        )
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
            prefix = campaigns.sender_prefix(org)
            cap, price = org.carrier_char_cap, org.segment_price_yen
            first = None
            campaign = None
            if self._editing_id:
                campaign = campaigns.get_campaign(session, caller, self._editing_id)
                if campaign is not None:
                    first = session.exec(
                        select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id).limit(1)
                    ).first()
            try:
                check_template(template)
            except TemplateError as exc:
                self._template_problem(exc, template, prefix, cap)
                return
            if first is not None:
                estimate = estimate_campaign_sms(session, campaign, template, limit=PREVIEW_ROWS_LIMIT)
                sample = fields_from_merge_data(first.merge_data)
                note = self._t("editor.preview.real", row=first.row_number or 1)
            else:
                estimate = None
                sample_name, sample_value = (
                    self._t("editor.preview.sample_name"),
                    self._t("editor.preview.sample_value"),
                )
                sample = {f: (sample_name if f in ("name", "氏名") else sample_value) for f in fields}
                note = self._t("editor.preview.sample")
        try:
            text = render_sms(template, sample, link_url("X" * 22), sender_prefix=prefix)
        except TemplateError as exc:
            self._template_problem(exc, template, prefix, cap)
            return
        info = analyze_sms(text, cap)
        worst = estimate.worst if estimate is not None and estimate.worst is not None else info
        self.preview_note = note
        self.sms_preview = text
        self.sms_summary = self._t(
            "editor.segments",
            encoding=worst.encoding,
            chars=worst.chars,
            segments=worst.segments,
            cost=f"{estimate_cost_yen(worst.segments, price):,}",
        )
        if estimate is not None and estimate.rows:
            self.sms_cost = self._t(
                "editor.cost_worst",
                chars=worst.chars,
                segments=worst.segments,
                rows=f"{estimate.rows:,}",
                total=f"{estimate.total_segments:,}",
                cost=f"{estimate.cost_yen:,}",
            )
        else:
            self.sms_cost = self._t(
                "editor.cost_sample",
                segments=info.segments,
                cost=f"{estimate_cost_yen(info.segments, price):,}",
                price=f"{price:g}",
            )
        self.sms_over_cap = worst.over_cap
        self.sms_over_cap_text = self._t("editor.over_cap", cap=cap) if worst.over_cap else ""
        shown = "".join(worst.ucs2_chars[:12])
        self.ucs2_text = self._t("editor.ucs2_chars", chars=shown) if shown else ""

    def _template_problem(self, exc, template: str, prefix: str, cap: int) -> None:
        from smspay_app.i18n import CATALOG

        message = (
            self._t(exc.code, field=exc.field)
            if exc.field
            else (self._t(exc.code) if exc.code in CATALOG else str(exc))
        )
        self.sms_preview = prefix + template
        self.sms_summary = self._t("editor.template_problem", message=message)
        self.sms_cost = ""
        self.sms_over_cap = False
        self.sms_over_cap_text = ""
        self.ucs2_text = ""


def _int(value: str) -> int | None:
    import unicodedata

    text = unicodedata.normalize("NFKC", str(value or "")).strip().replace(",", "")
    return int(text) if text.isdigit() else None


def _local_to_utc(value: str, tz: str):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    try:
        local = datetime.fromisoformat((value or "").strip().replace(" ", "T"))
    except ValueError:
        return None
    return (
        local.replace(tzinfo=ZoneInfo(tz or "Asia/Tokyo")).astimezone(UTC).replace(tzinfo=None, second=0, microsecond=0)
    )


def _utc_to_local(value, tz: str) -> str:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(tz or "Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M")


def _route_campaign_id(state) -> int:
    try:
        # The page's dynamic route argument ("/campaigns/[campaign_id]...").
        return int(getattr(state, "campaign_id", "0") or "0")
    except (TypeError, ValueError):
        return 0


# -- editor components


def _live(component: rx.Component, debounce: int) -> rx.Component:
    """A controlled input that sends its value ``debounce`` ms after typing
    stops, and at once when it loses focus (so a click on "Next" right after
    typing sees the text)."""
    from reflex.vars import Var

    if hasattr(component, "force_notify_on_blur"):
        component.debounce_timeout = Var.create(debounce)
        component.force_notify_on_blur = Var.create(True)
    return component


def _inp(debounce: int = 250, **props) -> rx.Component:
    return _live(rx.input(**props), debounce)


def _area(debounce: int = 250, **props) -> rx.Component:
    return _live(rx.text_area(**props), debounce)


def _field(label, control: rx.Component, help_text=None, **props) -> rx.Component:
    label = AppState.tr[label] if isinstance(label, str) else label
    children = [rx.text(label, size="2", weight="medium"), control]
    if help_text is not None:
        children.append(
            rx.text(AppState.tr[help_text] if isinstance(help_text, str) else help_text, size="1", color="gray")
        )
    props.setdefault("width", "100%")
    return rx.vstack(*children, spacing="1", **props)


def _set(field_name: str):
    return lambda value: CampaignEditorState.set_field(field_name, value)


def phone_preview() -> rx.Component:
    s = CampaignEditorState
    return rx.box(
        rx.text(AppState.tr["editor.preview"], size="1", color="gray", margin_bottom="6px"),
        rx.box(
            rx.hstack(
                rx.text("9:41", size="1", weight="bold"),
                rx.spacer(),
                rx.icon("signal", size=12),
                rx.icon("battery", size=12),
                width="100%",
                padding_x="6px",
            ),
            rx.text(AppState.org_name, size="1", color="gray", text_align="center", width="100%", margin_y="6px"),
            rx.box(
                rx.text(s.sms_preview, size="2", white_space="pre-wrap", word_break="break-all", id="sms-preview"),
                background="#e9e9eb",
                border_radius="16px 16px 16px 4px",
                padding="10px 12px",
                max_width="92%",
            ),
            background="white",
            border="10px solid #1f2937",
            border_radius="32px",
            padding="12px 12px 28px",
            min_height="320px",
            width="272px",
        ),
        rx.text(s.preview_note, size="1", color="gray", margin_top="6px"),
        rx.text(s.sms_summary, size="2", weight="medium", margin_top="6px", id="sms-summary"),
        rx.text(s.sms_cost, size="2", color="gray", id="sms-cost"),
        rx.cond(s.ucs2_text != "", rx.text(s.ucs2_text, size="1", color="gray")),
        rx.cond(s.template_note != "", rx.text(s.template_note, size="1", color="teal", id="link-note")),
        rx.cond(
            s.sms_over_cap,
            rx.callout(
                s.sms_over_cap_text,
                color_scheme="red",
                size="1",
                icon="triangle-alert",
                id="sms-over-cap",
                margin_top="6px",
            ),
        ),
        width="272px",
    )


def _stepper() -> rx.Component:
    s = CampaignEditorState

    def item(n: int) -> rx.Component:
        current = s.step == n
        has_error = s.error_steps.contains(n)
        return rx.button(
            rx.box(
                str(n),
                width="22px",
                height="22px",
                border_radius="50%",
                display="flex",
                align_items="center",
                justify_content="center",
                font_size="12px",
                color="white",
                background=rx.cond(has_error, "var(--red-9)", rx.cond(current, BRAND_COLOR, "var(--gray-8)")),
            ),
            AppState.tr[f"editor.step.{n}"],
            variant=rx.cond(current, "soft", "ghost"),
            color_scheme=rx.cond(has_error, "red", "teal"),
            on_click=CampaignEditorState.go(n),
            id=f"step-{n}",
            type="button",
            size="2",
        )

    return rx.hstack(*[item(n) for n in STEPS], spacing="2", wrap="wrap", margin_bottom="16px")


def _step_card(*children: rx.Component) -> rx.Component:
    return card(rx.vstack(*children, spacing="4", width="100%"))


def _step_basics() -> rx.Component:
    s = CampaignEditorState
    return _step_card(
        rx.heading(AppState.tr["editor.step.1"], size="4"),
        _field(
            "editor.name",
            _inp(
                value=s.name,
                on_change=_set("name"),
                id="campaign-name",
                placeholder=AppState.tr["editor.name.placeholder"],
                width="100%",
                size="3",
            ),
        ),
        _field(
            "editor.lifetime",
            rx.hstack(
                _inp(
                    value=s.lifetime_value,
                    on_change=_set("lifetime_value"),
                    id="lifetime",
                    type="number",
                    min="1",
                    width="120px",
                ),
                rx.el.select(
                    rx.el.option(AppState.tr["editor.unit.hours"], value="hours"),
                    rx.el.option(AppState.tr["editor.unit.days"], value="days"),
                    value=s.lifetime_unit,
                    on_change=_set("lifetime_unit"),
                    id="lifetime-unit",
                    style=SELECT_STYLE,
                ),
                align="center",
            ),
            "editor.lifetime.help",
        ),
        _field(
            "editor.send_when",
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(AppState.tr["editor.send_now"], value="now", id="send-now"),
                    rx.radio_group.item(AppState.tr["editor.send_at"], value="at", id="send-at"),
                ),
                value=s.send_mode,
                on_change=_set("send_mode"),
            ),
        ),
        rx.cond(
            s.send_mode == "at",
            _inp(
                type="datetime-local",
                value=s.scheduled_local,
                on_change=_set("scheduled_local"),
                id="scheduled-at",
                width="260px",
            ),
        ),
        _field(
            "editor.quiet",
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(s.org_quiet, value="org", id="quiet-org"),
                    rx.radio_group.item(AppState.tr["editor.quiet.override"], value="override", id="quiet-override"),
                ),
                value=s.quiet_mode,
                on_change=_set("quiet_mode"),
            ),
            "editor.quiet.help",
        ),
        rx.cond(
            s.quiet_mode == "override",
            rx.hstack(
                _field(
                    "editor.quiet.start",
                    _inp(type="time", value=s.quiet_start, on_change=_set("quiet_start"), id="quiet-start"),
                    width="auto",
                ),
                _field(
                    "editor.quiet.end",
                    _inp(type="time", value=s.quiet_end, on_change=_set("quiet_end"), id="quiet-end"),
                    width="auto",
                ),
            ),
        ),
    )


def _step_sms() -> rx.Component:
    s = CampaignEditorState
    return _step_card(
        rx.heading(AppState.tr["editor.step.2"], size="4"),
        _field(
            "editor.template",
            _area(
                value=s.template,
                on_change=CampaignEditorState.set_template,
                debounce=150,
                id="sms-template",
                rows="7",
                width="100%",
            ),
            "editor.template.help",
        ),
        rx.text(s.fields_text, size="2", id="sms-fields"),
        rx.text(AppState.tr["editor.fields.hint"], size="1", color="gray"),
    )


def _step_page() -> rx.Component:
    s = CampaignEditorState
    line_row = lambda line, i: rx.hstack(
        _inp(
            value=line["item"],
            on_change=lambda v: CampaignEditorState.set_line(i, "item", v),
            placeholder=AppState.tr["editor.line.item"],
            flex="3",
            class_name="line-item",
        ),
        _inp(
            value=line["quantity"],
            on_change=lambda v: CampaignEditorState.set_line(i, "quantity", v),
            placeholder=AppState.tr["editor.line.quantity"],
            width="70px",
            input_mode="numeric",
            class_name="line-qty",
        ),
        _inp(
            value=line["unit_price"],
            on_change=lambda v: CampaignEditorState.set_line(i, "unit_price", v),
            placeholder=AppState.tr["editor.line.unit_price"],
            width="120px",
            input_mode="numeric",
            class_name="line-price",
        ),
        rx.icon_button(
            rx.icon("x", size=14),
            on_click=CampaignEditorState.remove_line(i),
            variant="ghost",
            color_scheme="gray",
            type="button",
            aria_label=AppState.tr["editor.line.remove"],
        ),
        width="100%",
        align="center",
    )
    return _step_card(
        rx.heading(AppState.tr["editor.step.3"], size="4"),
        _field(
            "editor.page_title", _inp(value=s.page_title, on_change=_set("page_title"), id="page-title", width="100%")
        ),
        _field(
            "editor.page_message",
            _area(value=s.page_message, on_change=_set("page_message"), id="page-message", rows="4", width="100%"),
            "editor.fields.hint",
        ),
        _field(
            "editor.page_kind",
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(AppState.tr["editor.page_kind.payment"], value="payment", id="kind-payment"),
                    rx.radio_group.item(AppState.tr["editor.page_kind.notice"], value="notice", id="kind-notice"),
                ),
                value=rx.cond(s.payment_enabled, "payment", "notice"),
                on_change=lambda v: CampaignEditorState.set_field("payment_enabled", v == "payment"),
            ),
        ),
        rx.cond(
            s.payment_enabled,
            rx.vstack(
                rx.text(AppState.tr["editor.invoice_lines"], size="2", weight="medium"),
                rx.foreach(s.lines, line_row),
                rx.hstack(
                    rx.button(
                        rx.icon("plus", size=14),
                        AppState.tr["editor.line.add"],
                        on_click=CampaignEditorState.add_line,
                        variant="soft",
                        size="1",
                        type="button",
                        id="add-line",
                    ),
                    rx.spacer(),
                    rx.text(s.lines_total, size="2", id="lines-total"),
                    width="100%",
                ),
                _field(
                    "editor.amount",
                    _inp(value=s.amount, on_change=_set("amount"), id="amount", width="200px", input_mode="numeric"),
                    "editor.amount.lines_help",
                ),
                _field(
                    "editor.due_date",
                    _inp(type="date", value=s.due_date, on_change=_set("due_date"), id="due-date", width="200px"),
                ),
                width="100%",
                spacing="3",
            ),
            rx.vstack(
                rx.text(AppState.tr["editor.notice.help"], size="2", color="gray"),
                rx.hstack(
                    rx.checkbox(checked=s.ask_read, on_change=_set("ask_read"), id="ask-read"),
                    rx.text(AppState.tr["editor.read_confirmation"], size="2"),
                    align="center",
                ),
                width="100%",
            ),
        ),
    )


def _step_identity() -> rx.Component:
    s = CampaignEditorState
    kinds = [rx.el.option(AppState.tr[f"editor.kind.{k}"], value=k) for k in campaigns.QUESTION_KINDS]
    question = lambda q, i: rx.card(
        rx.hstack(
            rx.text(AppState.tr["editor.question_label"], " ", i + 1, size="2", weight="bold"),
            rx.spacer(),
            rx.button(
                AppState.tr["editor.question.remove"],
                on_click=CampaignEditorState.remove_question(i),
                variant="ghost",
                color_scheme="gray",
                size="1",
                type="button",
            ),
            width="100%",
        ),
        _field(
            "editor.question_label",
            _inp(
                value=q["label"],
                on_change=lambda v: CampaignEditorState.set_question(i, "label", v),
                width="100%",
                class_name="question-label",
            ),
        ),
        rx.hstack(
            _field(
                "editor.question_column",
                _inp(
                    value=q["column"],
                    on_change=lambda v: CampaignEditorState.set_question(i, "column", v),
                    width="100%",
                    class_name="question-column",
                ),
            ),
            _field(
                "editor.question_kind",
                rx.el.select(
                    *kinds,
                    value=q["kind"],
                    on_change=lambda v: CampaignEditorState.set_question(i, "kind", v),
                    class_name="question-kind",
                    style=SELECT_STYLE,
                ),
                width="160px",
            ),
            width="100%",
        ),
        width="100%",
        size="1",
    )
    return _step_card(
        rx.heading(AppState.tr["editor.step.4"], size="4"),
        rx.radio_group.root(
            rx.vstack(
                rx.radio_group.item(
                    AppState.tr["editor.verification.questions"], value="questions", id="verify-questions"
                ),
                rx.radio_group.item(AppState.tr["editor.verification.otp"], value="otp", id="verify-otp"),
            ),
            value=s.verification_mode,
            on_change=_set("verification_mode"),
        ),
        rx.cond(
            s.verification_mode == "questions",
            rx.vstack(
                rx.text(AppState.tr["editor.question.help"], size="1", color="gray"),
                rx.foreach(s.questions, question),
                rx.cond(
                    s.questions.length() < campaigns.MAX_QUESTIONS,
                    rx.button(
                        rx.icon("plus", size=14),
                        AppState.tr["editor.question.add"],
                        on_click=CampaignEditorState.add_question,
                        variant="soft",
                        size="1",
                        type="button",
                        id="add-question",
                    ),
                    rx.text(AppState.tr["editor.question.max"], size="1", color="gray"),
                ),
                width="100%",
            ),
            rx.text(AppState.tr["editor.otp.help"], size="2", color="gray"),
        ),
    )


def _step_review() -> rx.Component:
    s = CampaignEditorState
    return _step_card(
        rx.heading(AppState.tr["editor.step.5"], size="4"),
        rx.data_list.root(
            rx.foreach(s.review, lambda r: rx.data_list.item(rx.data_list.label(r[0]), rx.data_list.value(r[1]))),
            id="review",
        ),
        rx.cond(
            s.errors.length() == 0,
            rx.callout(AppState.tr["editor.review.ready"], icon="check", color_scheme="green", size="1"),
        ),
    )


BRAND_COLOR = "#0f766e"
SELECT_STYLE = {
    "padding": "6px 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
    "background": "white",
    "font_size": "14px",
    "min_width": "140px",
}


def campaign_new_page() -> rx.Component:
    s = CampaignEditorState
    return admin_page(
        rx.heading(
            rx.cond(s.editing, AppState.tr["editor.title_edit"], AppState.tr["editor.title"]),
            size="7",
            margin_bottom="12px",
        ),
        _stepper(),
        rx.flex(
            rx.vstack(
                rx.match(
                    s.step,
                    (1, _step_basics()),
                    (2, _step_sms()),
                    (3, _step_page()),
                    (4, _step_identity()),
                    _step_review(),
                ),
                rx.cond(
                    s.errors.length() > 0,
                    rx.callout(
                        rx.vstack(rx.foreach(s.errors, lambda e: rx.text(e, size="2"))),
                        icon="triangle-alert",
                        color_scheme="red",
                        width="100%",
                        id="editor-errors",
                    ),
                ),
                rx.hstack(
                    rx.cond(
                        s.step > 1,
                        rx.button(
                            AppState.tr["editor.back"],
                            on_click=CampaignEditorState.prev_step,
                            variant="soft",
                            size="3",
                            type="button",
                            id="step-back",
                        ),
                    ),
                    rx.cond(
                        s.step < 5,
                        rx.button(
                            AppState.tr["editor.next"],
                            on_click=CampaignEditorState.next_step,
                            size="3",
                            color_scheme="teal",
                            type="button",
                            id="step-next",
                        ),
                        rx.button(
                            rx.cond(s.editing, AppState.tr["editor.save"], AppState.tr["editor.create"]),
                            on_click=CampaignEditorState.submit({}),
                            size="3",
                            color_scheme="teal",
                            id="create-campaign",
                            type="button",
                            disabled=s.sms_over_cap,
                        ),
                    ),
                    rx.spacer(),
                    rx.link(
                        rx.button(
                            AppState.tr["editor.cancel"], variant="ghost", color_scheme="gray", size="3", type="button"
                        ),
                        href="/campaigns",
                    ),
                    width="100%",
                ),
                spacing="4",
                flex="1",
                min_width="0",
            ),
            rx.box(phone_preview(), position="sticky", top="24px"),
            spacing="6",
            align="start",
        ),
    )


# ----------------------------------------------------------------- campaign page
#
# Header, actions and panels. Other areas add their piece with ONE line in the
# marked slots of ``campaign_detail_page`` (header buttons, panels).

MAPPING_NONE = "__none__"
IMPORT_ERRORS_SHOWN = 100


class CampaignDetailState(AppState):
    found: bool = True
    name: str = ""
    status: str = ""
    edit_href: str = ""
    sms_template: str = ""
    summary_lines: list[str] = []
    counts: dict[str, str] = {}
    progress: dict[str, str] = {}
    recipients: list[dict[str, str]] = []
    page: int = 0
    recipient_total: int = 0
    scheduled_text: str = ""
    # pre-send check (recomputed on load, after an import, after sending)
    check_ok: bool = False
    check_lines: list[str] = []
    check_problems: list[str] = []
    schedule_local: str = ""
    timezone: str = ""
    # import: upload -> mapping -> background import -> result
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
    action_message: str = ""
    action_ok: bool = True
    confirm_cancel: bool = False
    _upload_token: str = ""
    _upload_name: str = ""
    _import_id: int = 0

    def _campaign_id(self) -> int:
        return _route_campaign_id(self)

    @rx.var
    def import_percent(self) -> int:
        return int(100 * self.import_done / self.import_total) if self.import_total else 0

    @rx.event
    def load(self):
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return rx.redirect("/login")
        self.page = 0
        self.import_message = ""
        self.import_errors = []
        self.import_more = ""
        self.action_message = ""
        self.mapping_open = False
        self.confirm_cancel = False
        self._discard(caller)
        self.check_ok = False
        self.check_lines, self.check_problems = [], []
        self._refresh(caller)
        return CampaignDetailState.run_check

    @rx.event
    def tick(self, _value=None):
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return
        before = self.status
        self._refresh(caller)
        if before != self.status:
            return CampaignDetailState.run_check

    def _refresh(self, caller: auth.Caller) -> None:
        from smspay_app.services import sending as dispatch

        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            if campaign is None:
                self.found = False
                self.name = ""
                self.counts = {}
                self.progress = {}
                self.recipients = []
                return
            org = session.get(Organisation, campaign.organisation_id)
            self.timezone = org.timezone
            self.found = True
            self.name = campaign.name
            self.status = campaign.status
            self.edit_href = f"/campaigns/{campaign.id}/edit"
            self.sms_template = campaign.sms_template
            self.scheduled_text = (
                self._t("detail.scheduled_for", at=_utc_to_local(campaign.scheduled_at, org.timezone).replace("T", " "))
                if campaign.scheduled_at
                else ""
            )
            questions = campaigns.questions_of(session, campaign.id)
            quiet = (
                (campaign.quiet_hours_start, campaign.quiet_hours_end)
                if campaign.quiet_hours_start
                else (org.quiet_hours_start, org.quiet_hours_end)
            )
            self.summary_lines = [
                self._t("detail.lifetime", hours=campaign.link_lifetime_hours),
                self._t("detail.amount", amount=_yen(campaign.amount_yen))
                if campaign.payment_enabled
                else self._t("detail.no_payment"),
                f"{self._t('editor.quiet')}: {quiet[0]}–{quiet[1]}",
                *(
                    [f"{self._t('detail.questions')}: {self._t('editor.verification.otp')}"]
                    if campaign.verification_mode == "otp"
                    else [f"{self._t('detail.questions')}: {q.label} ({q.column})" for q in questions]
                ),
            ]
            counts = campaigns.funnel_counts(session, campaign.id)
            self.recipient_total = counts["recipients"]
            self.counts = {k: (_yen(v) if k.endswith("_yen") else str(v)) for k, v in counts.items()}
            self.progress = {k: f"{v:,}" for k, v in dispatch.sending_progress(session, campaign.id).items()}
            rows = campaigns.recipients_page(
                session, caller, campaign.id, offset=self.page * PAGE_SIZE, limit=PAGE_SIZE
            )
        self.recipients = [
            {"phone": r.phone_e164, "name": r.name, "amount": _yen(r.amount_yen), "status": r.status} for r in rows
        ]

    @rx.event(background=True)
    async def run_check(self):
        """Validation before send and the worst case over every recipient. It
        reads every row (seconds for 100,000), so it runs in a thread while the
        server keeps serving; the result is applied when it is ready."""
        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return
        campaign_id = self._campaign_id()

        def compute():
            with session_scope() as session:
                campaign = campaigns.get_campaign(session, caller, campaign_id)
                if campaign is None:
                    return None
                org = session.get(Organisation, campaign.organisation_id)
                return campaigns.send_check(session, caller, campaign), org.segment_price_yen

        result = await asyncio.to_thread(compute)
        if result is None:
            return
        check, price = result
        async with self:
            if self._campaign_id() != campaign_id:
                return  # the page moved on to another campaign meanwhile
            est = check.estimate
            lines = []
            if est.worst is not None:
                lines.append(
                    self._t(
                        "detail.check.worst",
                        chars=est.worst.chars,
                        segments=est.worst.segments,
                        encoding=est.worst.encoding,
                    )
                )
                lines.append(
                    self._t(
                        "detail.check.cost",
                        rows=f"{est.rows:,}",
                        total=f"{est.total_segments:,}",
                        cost=f"{est.cost_yen:,}",
                        price=f"{price:g}",
                    )
                )
            elif not check.recipients:
                lines.append(self._t("detail.check.none"))
            self.check_lines = lines
            self.check_problems = [self._t(p.key, **p.params) if p.params else self._t(p.key) for p in check.problems]
            self.check_ok = check.ok

    @rx.event
    def next_page(self):
        if (self.page + 1) * PAGE_SIZE < self.recipient_total:
            self.page += 1
        return CampaignDetailState.tick

    @rx.event
    def prev_page(self):
        self.page = max(0, self.page - 1)
        return CampaignDetailState.tick

    # -- import: step 1, the file goes to disk, the page shows the mapping

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]):
        from smspay_app.domain.csv_import import CsvError
        from smspay_app.services import uploads

        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            self._import_failed(self._t("admin.error.not_allowed"))
            return
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
            reason = self._t(exc.code, **exc.params) if exc.params else self._t(exc.code)
            self._import_failed(self._t("import.failed", reason=reason))
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
    def set_mapping(self, field_name: str, header: str):
        from smspay_app.services import uploads

        self._caller("campaign.edit")
        if field_name in uploads.MAPPING_FIELDS and (header in self.map_headers or header == MAPPING_NONE):
            self.mapping = {**self.mapping, field_name: header}

    @rx.event
    def discard_upload(self):
        try:
            caller = self._caller("campaign.edit")
        except auth.NotAllowed:
            return
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
    async def run_import(self):
        from smspay_app.services import uploads
        from smspay_app.services.imports import import_recipients_csv

        async with self:
            try:
                caller = self._caller("campaign.edit")
            except auth.NotAllowed:
                self._import_failed(self._t("admin.error.not_allowed"))
                return
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

        task = asyncio.create_task(asyncio.to_thread(run))
        try:
            while not task.done():
                await asyncio.sleep(0.3)
                async with self:
                    self.import_done, self.import_total = progress["done"], progress["total"]
            result = task.result()
        except Exception:
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
                self._refresh(caller)
        return CampaignDetailState.run_check

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
    def download_errors(self):
        from smspay_app.models import RecipientImport
        from smspay_app.services.imports import errors_csv

        try:
            caller = self._caller("campaign.view")
        except auth.NotAllowed:
            return
        with session_scope() as session:
            report = session.get(RecipientImport, self._import_id) if self._import_id else None
            if report is None or report.organisation_id != caller.organisation_id:
                return
            data = errors_csv(report, self.lang)
        return rx.download(data=data, filename=f"import-{report.id}-errors.csv", mime_type="text/csv")

    # -- sending

    @rx.event
    def send(self):
        return self._send(None)

    @rx.event
    def schedule(self):
        at = _local_to_utc(self.schedule_local, self.timezone)
        if at is None:
            self.action_ok = False
            self.action_message = self._t("campaign.error.schedule_invalid")
            return
        return self._send(at)

    @rx.event
    def set_schedule_local(self, value: str):
        self.schedule_local = str(value or "")[:32]

    def _send(self, at):
        try:
            caller = self._caller("campaign.send")
        except auth.NotAllowed:
            self.action_ok = False
            self.action_message = self._t("admin.error.not_allowed")
            return
        try:
            with session_scope() as session:
                queued = campaigns.send_campaign(session, caller, self._campaign_id(), scheduled_at=at)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(
                self._t(p.key, **p.params) if p.params else self._t(p.key) for p in exc.problems
            )
            return
        self.action_ok = True
        if at is None:
            self.action_message = self._t("detail.sending_started", count=queued)
        else:
            self.action_message = self._t("detail.scheduled", at=self.schedule_local.replace("T", " "), count=queued)
        self._refresh(caller)
        return CampaignDetailState.run_check

    @rx.event
    def pause(self):
        return self._change("pause", "detail.paused")

    @rx.event
    def resume(self):
        return self._change("resume", "detail.resumed")

    @rx.event
    def ask_cancel(self, open_: bool = True):
        self.confirm_cancel = bool(open_)

    @rx.event
    def cancel(self):
        self.confirm_cancel = False
        return self._change("cancel", "detail.cancelled")

    def _change(self, action: str, done_key: str):
        try:
            caller = self._caller("campaign.send")
        except auth.NotAllowed:
            self.action_ok = False
            self.action_message = self._t("admin.error.not_allowed")
            return
        try:
            with session_scope() as session:
                count = campaigns.change_sending(session, caller, self._campaign_id(), action)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(
                self._t(p.key, **p.params) if p.params else self._t(p.key) for p in exc.problems
            )
            return
        self.action_ok = True
        self.action_message = self._t(done_key, count=count)
        self._refresh(caller)
        return CampaignDetailState.run_check


def _funnel_cards() -> rx.Component:
    c = CampaignDetailState.counts
    return rx.flex(
        stat(AppState.tr["funnel.recipients"], c["recipients"], test_id="count-recipients"),
        *funnel_stats(c, "count"),
        stat(AppState.tr["funnel.collected"], c["paid_yen"], "green", "collected"),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def _progress_card() -> rx.Component:
    p = CampaignDetailState.progress
    keys = ("queued", "held", "sending", "sent", "delivered", "failed", "cancelled")
    return card(
        rx.hstack(
            rx.heading(AppState.tr["detail.progress.title"], size="4"),
            rx.text(CampaignDetailState.scheduled_text, size="2", color="gray"),
            spacing="3",
            align="center",
        ),
        rx.flex(
            *[
                rx.vstack(
                    rx.text(AppState.tr[f"detail.progress.{k}"], size="1", color="gray"),
                    rx.text(p[k], size="5", weight="bold", id=f"progress-{k}"),
                    spacing="0",
                    min_width="90px",
                )
                for k in keys
            ],
            spacing="4",
            wrap="wrap",
            margin_top="8px",
        ),
        id="sending-progress",
    )


def _actions() -> rx.Component:
    s = CampaignDetailState
    can_send = AppState.user_role != "support"
    return rx.hstack(
        rx.cond(
            (s.status == "draft") & can_send,
            rx.link(
                rx.button(
                    rx.icon("pencil", size=16), AppState.tr["detail.edit"], variant="soft", size="3", id="edit-button"
                ),
                href=s.edit_href,
            ),
        ),
        rx.cond(
            (s.status == "draft") & can_send & (s.recipient_total > 0),
            rx.button(
                rx.icon("send", size=16),
                AppState.tr["detail.send"],
                on_click=CampaignDetailState.send,
                color_scheme="teal",
                size="3",
                id="send-button",
                disabled=~s.check_ok,
            ),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled")) & can_send,
            rx.button(
                rx.icon("pause", size=16),
                AppState.tr["detail.pause"],
                on_click=CampaignDetailState.pause,
                variant="soft",
                color_scheme="orange",
                size="3",
                id="pause-button",
            ),
        ),
        rx.cond(
            (s.status == "paused") & can_send,
            rx.button(
                rx.icon("play", size=16),
                AppState.tr["detail.resume"],
                on_click=CampaignDetailState.resume,
                color_scheme="teal",
                size="3",
                id="resume-button",
            ),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled") | (s.status == "paused")) & can_send,
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(
                    rx.button(
                        AppState.tr["detail.cancel"], variant="soft", color_scheme="red", size="3", id="cancel-button"
                    )
                ),
                rx.alert_dialog.content(
                    rx.alert_dialog.title(AppState.tr["detail.cancel"]),
                    rx.alert_dialog.description(AppState.tr["detail.cancel_confirm"]),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button(AppState.tr["detail.cancel_no"], variant="soft", color_scheme="gray")
                        ),
                        rx.alert_dialog.action(
                            rx.button(
                                AppState.tr["detail.cancel_yes"],
                                color_scheme="red",
                                on_click=CampaignDetailState.cancel,
                                id="cancel-confirm",
                            )
                        ),
                        justify="end",
                        spacing="3",
                        margin_top="16px",
                    ),
                ),
            ),
        ),
        spacing="2",
        align="center",
    )


def _check_card() -> rx.Component:
    s = CampaignDetailState
    return card(
        rx.heading(AppState.tr["detail.check.title"], size="4", margin_bottom="8px"),
        rx.vstack(rx.foreach(s.check_lines, lambda line: rx.text(line, size="2")), spacing="1", id="send-estimate"),
        rx.cond(
            s.check_ok,
            rx.callout(
                AppState.tr["detail.check.ok"],
                icon="check",
                color_scheme="green",
                size="1",
                margin_top="8px",
                id="send-ready",
            ),
            rx.callout(
                rx.vstack(
                    rx.text(AppState.tr["detail.check.blocked"], size="2", weight="medium"),
                    rx.foreach(s.check_problems, lambda p: rx.text(AppState.tr["detail.check.bullet"], p, size="2")),
                    spacing="1",
                ),
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                margin_top="8px",
                id="send-blockers",
            ),
        ),
        rx.cond(
            s.check_ok & (AppState.user_role != "support"),
            rx.hstack(
                _inp(
                    type="datetime-local",
                    value=s.schedule_local,
                    on_change=CampaignDetailState.set_schedule_local,
                    id="schedule-at",
                    width="220px",
                ),
                rx.button(
                    rx.icon("clock", size=14),
                    AppState.tr["detail.schedule"],
                    on_click=CampaignDetailState.schedule,
                    variant="soft",
                    id="schedule-button",
                ),
                rx.text(s.timezone, size="1", color="gray"),
                align="center",
                margin_top="10px",
            ),
        ),
    )


def _mapping_panel() -> rx.Component:
    from smspay_app.services.uploads import MAPPING_FIELDS

    s = CampaignDetailState

    def select_for(field_name: str) -> rx.Component:
        return rx.hstack(
            rx.text(AppState.tr[f"detail.field.{field_name}"], size="2", width="150px"),
            rx.el.select(
                rx.el.option(AppState.tr["detail.mapping.none"], value=MAPPING_NONE),
                rx.foreach(s.map_headers, lambda h: rx.el.option(h, value=h)),
                value=s.mapping[field_name],
                on_change=lambda v: CampaignDetailState.set_mapping(field_name, v),
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
                on_click=CampaignDetailState.run_import,
                color_scheme="teal",
                id="import-confirm",
            ),
            rx.button(
                AppState.tr["detail.mapping.discard"],
                on_click=CampaignDetailState.discard_upload,
                variant="soft",
                color_scheme="gray",
            ),
        ),
        width="100%",
        spacing="3",
        id="mapping",
        margin_top="12px",
    )


def _upload_card() -> rx.Component:
    s = CampaignDetailState
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
                    on_click=CampaignDetailState.handle_upload(rx.upload_files(upload_id="csv")),
                    color_scheme="teal",
                    id="import-button",
                ),
                rx.text(AppState.tr["import.rule"], size="1", color="gray"),
                width="100%",
            ),
        ),
        rx.cond(s.mapping_open, _mapping_panel()),
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
                        on_click=CampaignDetailState.download_errors,
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


def _recipients_card() -> rx.Component:
    return card(
        rx.hstack(
            rx.heading(AppState.tr["detail.recipients"], size="4"),
            rx.spacer(),
            rx.button(
                AppState.tr["detail.page_prev"], on_click=CampaignDetailState.prev_page, variant="soft", size="1"
            ),
            rx.text(CampaignDetailState.page + 1, size="2"),
            rx.button(
                AppState.tr["detail.page_next"], on_click=CampaignDetailState.next_page, variant="soft", size="1"
            ),
            align="center",
            width="100%",
            margin_bottom="8px",
        ),
        rx.cond(
            CampaignDetailState.recipients.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(AppState.tr["detail.col.phone"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.name"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.amount"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.status"]),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        CampaignDetailState.recipients,
                        lambda r: rx.table.row(
                            rx.table.cell(r["phone"]),
                            rx.table.cell(r["name"]),
                            rx.table.cell(r["amount"]),
                            rx.table.cell(rx.badge(AppState.tr["rstatus." + r["status"]], variant="soft")),
                        ),
                    )
                ),
                width="100%",
                id="recipients-table",
            ),
            rx.text(AppState.tr["detail.recipients.empty"], color="gray", size="2"),
        ),
    )


def _sms_card() -> rx.Component:
    return card(
        rx.heading(AppState.tr["detail.sms_text"], size="4", margin_bottom="8px"),
        rx.text(
            CampaignDetailState.sms_template,
            size="2",
            white_space="pre-wrap",
            background="var(--gray-3)",
            padding="10px",
            border_radius="8px",
        ),
        rx.vstack(
            rx.foreach(CampaignDetailState.summary_lines, lambda s: rx.text(s, size="2", color="gray")),
            spacing="1",
            margin_top="8px",
        ),
    )


def campaign_detail_page() -> rx.Component:
    s = CampaignDetailState
    editable = (s.status == "draft") & (AppState.user_role != "support")
    return admin_page(
        rx.moment(interval=2000, on_change=CampaignDetailState.tick, display="none"),
        rx.link(AppState.tr["detail.back"], href="/campaigns", size="2"),
        rx.cond(
            s.found,
            rx.vstack(
                rx.hstack(
                    rx.heading(s.name, size="7", id="campaign-title"),
                    status_badge(s.status),
                    rx.badge(
                        rx.icon("radio", size=12), AppState.tr["detail.live"], color_scheme="green", variant="outline"
                    ),
                    rx.spacer(),
                    # --- slot: header buttons of other areas (export ...), one line each ---
                    campaign_ops_links(),
                    _actions(),
                    align="center",
                    width="100%",
                    spacing="3",
                    wrap="wrap",
                    id="campaign-header",
                ),
                rx.cond(
                    s.action_message != "",
                    rx.callout(
                        s.action_message,
                        icon=rx.cond(s.action_ok, "info", "triangle-alert"),
                        color_scheme=rx.cond(s.action_ok, "blue", "red"),
                        width="100%",
                        id="action-message",
                    ),
                ),
                _funnel_cards(),
                rx.cond(s.status != "draft", _progress_card()),
                # --- slot: panels of other areas (funnel chart ...), one line each ---
                rx.cond(s.status != "draft", campaign_funnel_panel(follow_route=True)),
                rx.cond(
                    s.status == "draft",
                    rx.flex(
                        rx.vstack(
                            rx.cond(editable, _upload_card()),
                            _check_card(),
                            flex="2",
                            min_width="0",
                            spacing="4",
                        ),
                        rx.box(_sms_card(), flex="1", min_width="260px"),
                        spacing="4",
                        width="100%",
                        wrap="wrap",
                    ),
                    _sms_card(),
                ),
                _recipients_card(),
                spacing="4",
                width="100%",
                margin_top="8px",
            ),
            rx.callout(
                AppState.tr["admin.error.not_found"], color_scheme="red", icon="triangle-alert", margin_top="16px"
            ),
        ),
    )
