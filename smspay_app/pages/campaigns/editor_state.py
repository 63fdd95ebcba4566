"""The campaign editor's state: a guided flow in five steps (basics & sending,
SMS text, recipient page, identity check, review) over one small state; the
phone preview with size and cost stays beside every step. The service
validates; the page maps each problem to its step."""

from __future__ import annotations

import reflex as rx

from smspay_app.db import session_scope
from smspay_app.domain.formatting import input_date, input_datetime, local_input_to_utc, parse_input_time, yen
from smspay_app.i18n import t
from smspay_app.models import Organisation
from smspay_app.pages.campaigns.shared import route_campaign_id, to_int
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, raising, require

STEPS = (1, 2, 3, 4, 5)
_STEP_OF_FIELD = {
    "name": 1,
    "link_lifetime_hours": 1,
    "scheduled_at": 1,
    "quiet_hours": 1,
    "sms_connection_id": 1,
    "payment_connection_id": 1,
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


def _with_sms_pick(session, campaign, org: Organisation, pick: str):
    """The campaign as the preview sees it with the editor's unsaved SMS pick
    (the opt-out note follows the route): detached, so nothing is saved."""
    from smspay_app.models import Campaign

    wanted = to_int(pick) if pick != "default" else None
    if campaign is None:
        return Campaign(organisation_id=org.id, sms_connection_id=wanted) if wanted else None
    if campaign.sms_connection_id != wanted:
        session.expunge(campaign)
        campaign.sms_connection_id = wanted
    return campaign


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
    sms_segments: str = ""  # under the SMS in the phone frame
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
    # The recipients' language (default texts, SMS, pages), not the UI's.
    recipient_lang: str = "ja"
    questions: list[dict[str, str]] = []
    # review and errors
    review: list[list[str]] = []
    errors: list[str] = []
    error_steps: list[int] = []
    _editing_id: int = 0
    # the connection pickers (admins): "default" or a connection id
    can_pick: bool = False
    sms_pick: str = "default"
    payment_pick: str = "default"
    sms_choices: list[dict[str, str]] = []
    payment_choices: list[dict[str, str]] = []

    # -- loading

    @rx.event
    @require("campaign.edit")
    def start(self, *, caller: auth.Caller):
        """/campaigns/new: a fresh draft with helpful defaults."""
        self._reset_form()
        self._editing_id = 0
        self.editing = False
        self.recipient_lang = "ja"
        self._default_texts("ja")
        self.questions = [
            {
                "label": t("editor.question_label.default", "ja"),
                "column": self._t("editor.question_column.default"),
                "kind": "date",
            }
        ]
        self._org_defaults(caller)
        self._analyse(caller)

    def _default_texts(self, lang: str) -> None:
        """The SMS and page texts a new campaign starts with, in the
        recipients' language (issue 15 item 11: an English UI must not send
        English to Japanese customers)."""
        self.template = t("editor.template.default", lang)
        self.page_message = t("editor.page_message.default", lang)

    @rx.event
    @require("campaign.edit")
    def set_recipient_lang(self, value: str, *, caller: auth.Caller):
        """Switch the recipients' language; texts still at the old
        language's defaults follow it, edited texts stay."""
        new = value if value in campaigns.RECIPIENT_LANGUAGES else "ja"
        old = self.recipient_lang
        self.recipient_lang = new
        if self.template == t("editor.template.default", old):
            self.template = t("editor.template.default", new)
        if self.page_message == t("editor.page_message.default", old):
            self.page_message = t("editor.page_message.default", new)
        for q in self.questions:
            if q.get("label") == t("editor.question_label.default", old):
                q["label"] = t("editor.question_label.default", new)
        self.questions = list(self.questions)
        self._analyse(caller)

    @rx.event
    @require("campaign.edit")
    def start_edit(self, *, caller: auth.Caller):
        """/campaigns/[id]/edit: the saved draft of the caller's organisation."""
        self._reset_form()
        campaign_id = route_campaign_id(self)
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
        self.sms_pick = self.payment_pick = "default"

    def _org_defaults(self, caller: auth.Caller) -> None:
        from smspay_app.pages.campaigns.connection_picks import choices

        with session_scope() as session:
            self.can_pick, self.sms_choices, self.payment_choices = choices(session, caller)
            org = session.get(Organisation, caller.organisation_id)
            self.timezone = org.timezone
            self.org_quiet = self._t("editor.quiet.org", start=org.quiet_hours_start, end=org.quiet_hours_end)
            if self.quiet_mode == "org":
                self.quiet_start, self.quiet_end = org.quiet_hours_start or "21:00", org.quiet_hours_end or "08:00"

    def _fill(self, data: campaigns.CampaignInput) -> None:
        self.name = data.name
        self.recipient_lang = data.recipient_language
        hours = data.link_lifetime_hours
        if hours % 24 == 0 and hours >= 48:
            self.lifetime_value, self.lifetime_unit = str(hours // 24), "days"
        else:
            self.lifetime_value, self.lifetime_unit = str(hours), "hours"
        if data.scheduled_at:
            self.send_mode = "at"
            self.scheduled_local = input_datetime(data.scheduled_at, self.timezone)
        if data.quiet_hours_start and data.quiet_hours_end:
            self.quiet_mode = "override"
            self.quiet_start, self.quiet_end = data.quiet_hours_start, data.quiet_hours_end
        self.template = data.sms_template
        self.page_title = data.page_title
        self.page_message = data.page_message
        self.payment_enabled = data.payment_enabled
        self.amount = str(data.amount_yen) if data.amount_yen and not data.invoice_lines else ""
        self.due_date = input_date(data.due_date)
        self.ask_read = data.ask_read_confirmation
        self.lines = [
            {"item": l.item, "quantity": str(l.quantity), "unit_price": str(l.unit_price_yen)}
            for l in data.invoice_lines
        ]
        self.verification_mode = data.verification_mode
        self.questions = [{"label": q.label, "column": q.column, "kind": q.kind} for q in data.questions]
        self.sms_pick = str(data.sms_connection_id or "default")
        self.payment_pick = str(data.payment_connection_id or "default")
        self._lines_total()

    # -- field changes

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_field(self, field_name: str, value):
        if field_name in _TEXT_FIELDS:
            setattr(self, field_name, str(value or "")[:2000])
        elif field_name in _BOOL_FIELDS:
            setattr(self, field_name, bool(value))
        if field_name == "amount" or field_name == "payment_enabled":
            self._lines_total()

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_pick(self, kind: str, value: str, *, caller: auth.Caller):
        """Pick the campaign's SMS or payment connection (checked again, with
        the admin rule, when saved); the opt-out note follows the SMS pick."""
        allowed = {c["id"] for c in (self.sms_choices if kind == "sms" else self.payment_choices)}
        if kind in ("sms", "payment") and (value == "default" or value in allowed):
            setattr(self, f"{kind}_pick", value)
            self._analyse(caller)

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_template(self, value: str, *, caller: auth.Caller):
        self.template = str(value or "")[:2000]
        self._analyse(caller)

    @rx.event
    @require("campaign.edit", refused=raising)
    def add_line(self):
        if len(self.lines) < campaigns.MAX_INVOICE_LINES:
            self.lines = self.lines + [{"item": "", "quantity": "1", "unit_price": ""}]

    @rx.event
    @require("campaign.edit", refused=raising)
    def remove_line(self, index: int):
        self.lines = [l for i, l in enumerate(self.lines) if i != int(index)]
        self._lines_total()

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_line(self, index: int, key: str, value: str):
        index = int(index)
        if key in _LINE_KEYS and 0 <= index < len(self.lines):
            lines = [dict(l) for l in self.lines]
            lines[index][key] = str(value or "")[:200]
            self.lines = lines
            self._lines_total()

    @rx.event
    @require("campaign.edit", refused=raising)
    def add_question(self):
        if len(self.questions) < campaigns.MAX_QUESTIONS:
            self.questions = self.questions + [{"label": "", "column": "", "kind": "text"}]

    @rx.event
    @require("campaign.edit", refused=raising)
    def remove_question(self, index: int):
        self.questions = [q for i, q in enumerate(self.questions) if i != int(index)]

    @rx.event
    @require("campaign.edit", refused=raising)
    def set_question(self, index: int, key: str, value: str):
        index = int(index)
        if key in _QUESTION_KEYS and 0 <= index < len(self.questions):
            questions = [dict(q) for q in self.questions]
            questions[index][key] = str(value or "")[:200]
            self.questions = questions

    # -- steps

    @rx.event
    @require("campaign.edit", refused=raising)
    def go(self, step: int, *, caller: auth.Caller):
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
    @require("campaign.edit", refused=lambda state, exc: setattr(state, "errors", [state._refusal(exc)]))
    def submit(self, form: dict | None = None, *, caller: auth.Caller):
        """Save (create or update). ``form`` values, when given, override the
        fields of the same name (the state holds everything otherwise)."""
        for key, value in (form or {}).items():
            target = {"amount_yen": "amount"}.get(key, key)
            if target in _TEXT_FIELDS:
                setattr(self, target, str(value or "")[:2000])
            elif target == "sms_template":
                self.template = str(value or "")[:2000]
        data, parse_errors = self._input(caller)
        if parse_errors:
            self._show([(_step_of(e.field), self._refusal(e)) for e in parse_errors])
            return
        try:
            with session_scope() as session:
                if self._editing_id:
                    campaign = campaigns.update_campaign(session, caller, self._editing_id, data)
                else:
                    campaign = campaigns.create_campaign(session, caller, data)
                campaign_id = campaign.id
        except campaigns.CampaignInvalid as exc:
            self._show([(_step_of(e.field), self._refusal(e)) for e in exc.errors])
            return
        self.errors, self.error_steps = [], []
        self.template = ""
        return rx.redirect(f"/campaigns/{campaign_id}")

    # -- the recipient page in the phone frame (pages/campaigns/preview.py)

    @rx.var
    def page_preview(self) -> dict[str, str]:
        """The recipient page's words as the recipient will read them (the
        campaign's recipient language), merge fields with sample values."""
        from urllib.parse import urlparse

        from smspay_app.domain.formatting import parse_input_date, people_date
        from smspay_app.domain.sms_text import TemplateError, render_text
        from smspay_app.i18n import t
        from smspay_app.services import sms_message

        lang = self.recipient_lang
        try:
            message = render_text(self.page_message, sms_message.sample_fields(self.page_message, lang))
        except (TemplateError, KeyError, ValueError):
            message = self.page_message
        total = sum(int(line["total_yen"]) for line in self._preview_lines())
        if not total:
            total = to_int(self.amount) or 0
        due = parse_input_date(self.due_date)
        return {
            "host": urlparse(sms_message.sample_link_url()).netloc,
            "title": self.page_title or self.name,
            "message": message,
            "invoice": t("recipient.invoice", lang),
            "total_label": t("recipient.total", lang),
            "total": yen(total) if total else "¥" + t("editor.preview.sample.amount", lang),
            "due": t("recipient.due", lang, date=people_date(due, lang)) if due else "",
            "pay": t("recipient.pay_button", lang),
            "read": t("recipient.read_button", lang),
            "notice_end": t("recipient.notice_end", lang),
        }

    @rx.var
    def page_preview_lines(self) -> list[dict[str, str]]:
        return [{k: v for k, v in line.items() if k != "total_yen"} for line in self._preview_lines()]

    def _preview_lines(self) -> list[dict[str, str]]:
        out = []
        for line in self.lines:
            qty, unit = to_int(line.get("quantity", "")), to_int(line.get("unit_price", ""))
            if not line.get("item", "").strip() or qty is None or unit is None:
                continue
            out.append(
                {
                    "item": line["item"].strip(),
                    "detail": f"{qty} × {yen(unit)}",
                    "total": yen(qty * unit),
                    "total_yen": str(qty * unit),
                }
            )
        return out

    # -- helpers

    def _input(self, caller: auth.Caller) -> tuple[campaigns.CampaignInput, list[campaigns.FieldError]]:
        from smspay_app.domain.csv_import import parse_amount_yen
        from smspay_app.domain.formatting import parse_input_date

        errors: list[campaigns.FieldError] = []
        amount = 0
        if self.payment_enabled and self.amount.strip():
            parsed = parse_amount_yen(self.amount)
            if parsed is None:
                errors.append(campaigns.FieldError("amount_yen", "campaign.error.amount_invalid"))
            else:
                amount = parsed
        lifetime = to_int(self.lifetime_value)
        if lifetime is None:
            lifetime = -1
        elif self.lifetime_unit == "days":
            lifetime *= 24
        scheduled_at = None
        if self.send_mode == "at":
            scheduled_at = local_input_to_utc(self.scheduled_local, self.timezone)
            if scheduled_at is None:
                errors.append(campaigns.FieldError("scheduled_at", "campaign.error.schedule_invalid"))
        due = None
        if self.due_date.strip():
            due = parse_input_date(self.due_date)
            if due is None:
                errors.append(campaigns.FieldError("due_date", "campaign.error.due_date_invalid"))
        lines = []
        for line in self.lines:
            if not any(str(v).strip() for v in line.values()):
                continue
            qty, price = to_int(line.get("quantity", "")), parse_amount_yen(line.get("unit_price", "") or "x")
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
            quiet_hours_start=(parse_input_time(self.quiet_start) or self.quiet_start.strip()) if override else None,
            quiet_hours_end=(parse_input_time(self.quiet_end) or self.quiet_end.strip()) if override else None,
            recipient_language=self.recipient_lang,
            sms_connection_id=to_int(self.sms_pick) if self.sms_pick != "default" else None,
            payment_connection_id=to_int(self.payment_pick) if self.payment_pick != "default" else None,
        )
        return data, errors

    def _problems(self, caller: auth.Caller) -> list[tuple[int, str]]:
        """(step, message) for everything wrong, in step order."""
        data, parse_errors = self._input(caller)
        with session_scope() as session:
            org = session.get(Organisation, caller.organisation_id)
            errors = parse_errors + campaigns.validate(data, org)
        return sorted({(_step_of(e.field), self._refusal(e)) for e in errors})

    def _show(self, problems: list[tuple[int, str]], only_step: int | None = None) -> None:
        shown = [p for p in problems if only_step is None or p[0] == only_step]
        self.errors = list(dict.fromkeys(message for _, message in shown))
        self.error_steps = sorted({step for step, _ in problems})

    def _lines_total(self) -> None:
        from smspay_app.domain.csv_import import parse_amount_yen

        total = 0
        for line in self.lines:
            qty, price = to_int(line.get("quantity", "")), parse_amount_yen(line.get("unit_price", "") or "x")
            total += max(0, qty or 0) * max(0, price or 0)
        self.lines_total = self._t("editor.lines_total", total=yen(total)) if self.lines else ""

    def _build_review(self, caller: auth.Caller) -> None:
        data, _ = self._input(caller)
        hours = data.link_lifetime_hours
        send = self._t("editor.send_now") if data.scheduled_at is None else self.scheduled_local.replace("T", " ")
        page = (
            self._t("detail.amount", amount=yen(data.effective_amount()))
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
        from smspay_app.domain.sms_text import TemplateError, estimate_cost_yen, has_link_placeholder, template_fields
        from smspay_app.services import sms_message

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
            prefix = sms_message.sender_prefix(org)
            cap, price = org.carrier_char_cap, org.segment_price_yen
            campaign = campaigns.get_campaign(session, caller, self._editing_id) if self._editing_id else None
            campaign = _with_sms_pick(session, campaign, org, self.sms_pick)
            try:
                preview = sms_message.editor_preview(
                    session, org, campaign, template, lang=self.recipient_lang, limit=PREVIEW_ROWS_LIMIT
                )
            except TemplateError as exc:
                self._template_problem(exc, template, prefix, cap)
                return
        text, info, estimate = preview.text, preview.info, preview.estimate
        note = (
            self._t("editor.preview.real", row=preview.row)
            if preview.row is not None
            else self._t("editor.preview.sample")
        )
        worst = estimate.worst if estimate is not None and estimate.worst is not None else info
        self.preview_note = note
        self.sms_preview = text
        self.sms_segments = self._t("editor.preview.segments", segments=info.segments, chars=info.chars)
        self.sms_summary = self._t(
            "editor.segments",
            encoding=self._t(f"sms.encoding.{worst.encoding}"),
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

        message = self._refusal(exc) if exc.key in CATALOG else str(exc)
        self.sms_preview = prefix + template
        self.sms_segments = ""
        self.sms_summary = self._t("editor.template_problem", message=message)
        self.sms_cost = ""
        self.sms_over_cap = False
        self.sms_over_cap_text = ""
        self.ucs2_text = ""
