"""Recipients: search across the organisation (paged in the database, 50 a
page) and one recipient's page with its timeline, audit log and support
actions (each in a dialog with a required reason). Handlers check the caller
on every call and scope every query by its organisation; identity answers are
never loaded."""

from __future__ import annotations

import reflex as rx
from sqlmodel import select

from smspay_app.components.layout import admin_page, card, recipient_status
from smspay_app.db import session_scope
from smspay_app.domain.clock import utcnow
from smspay_app.domain.formatting import local_time, phone, yen
from smspay_app.i18n import CATALOG
from smspay_app.models import Organisation, Payment
from smspay_app.services import actions, auth, recipients, support
from smspay_app.services.recipients import RecipientQuery
from smspay_app.state import AppState, quietly, require

ALL = "all"
SORTABLE = ("name", "phone", "status", "amount")


class RecipientsState(AppState):
    q: str = ""
    campaign_filter: str = ALL
    status_filter: str = ALL
    sort: str = "id"
    descending: bool = False
    page: int = 0
    pages: int = 1
    total: int = 0
    summary: str = ""
    rows: list[dict[str, str]] = []
    campaign_options: list[dict[str, str]] = []

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
        wanted = str(self.router.url.query_parameters.get("campaign", "") or "")
        self.campaign_filter = wanted if wanted.isdigit() else ALL
        if wanted.isdigit():
            self.q = ""  # 宛先を検索 from a campaign starts without an earlier search term
        self.page = 0
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        campaign_id = int(self.campaign_filter) if self.campaign_filter.isdigit() else None
        with session_scope() as session:
            self.campaign_options = [
                {"id": str(cid), "name": name} for cid, name in recipients.campaign_choices(session, caller)
            ]
            result = recipients.search(
                session,
                caller,
                RecipientQuery(
                    campaign_id=campaign_id,
                    status="" if self.status_filter == ALL else self.status_filter,
                    q=self.q,
                    sort=self.sort,
                    descending=self.descending,
                    page=self.page,
                ),
            )
            tz = session.get(Organisation, caller.organisation_id).timezone
        self.total = result.total
        self.pages = result.pages
        start = result.page * result.page_size
        self.summary = self._t(
            "ops.recipients.total",
            total=f"{result.total:,}",
            start=start + 1 if result.rows else 0,
            end=start + len(result.rows),
        )
        self.rows = [
            {
                "id": str(r.id),
                "phone": phone(r.phone_e164),
                "name": r.name,
                "campaign": r.campaign_name,
                "ref": r.external_ref,
                "amount": yen(r.amount_yen),
                "status": r.status,
                "deadline": local_time(r.payment_deadline, tz),
            }
            for r in result.rows
        ]

    @require("campaign.view")
    def _reload(self, *, caller: auth.Caller):
        self._refresh(caller)

    @rx.event
    def search(self, form: dict):
        self.q = str(form.get("q", ""))[:100]
        self.page = 0
        return self._reload()

    @rx.event
    def clear_search(self):
        """The clear button beside the search box: no term, first page, and
        the box emptied (it is uncontrolled)."""
        self.q = ""
        self.page = 0
        refused = self._reload()
        return [rx.set_value("recipient-search", "")] + ([refused] if refused is not None else [])

    @rx.event
    def set_campaign_filter(self, value: str):
        self.campaign_filter = value if (value == ALL or str(value).isdigit()) else ALL
        self.page = 0
        return self._reload()

    @rx.event
    def set_status_filter(self, value: str):
        self.status_filter = value if value in recipients.STATUSES else ALL
        self.page = 0
        return self._reload()

    @rx.event
    def sort_by(self, column: str):
        if column not in SORTABLE:
            return
        if self.sort == column:
            self.descending = not self.descending
        else:
            self.sort, self.descending = column, False
        self.page = 0
        return self._reload()

    @rx.event
    def next_page(self):
        if self.page + 1 < self.pages:
            self.page += 1
        return self._reload()

    @rx.event
    def prev_page(self):
        self.page = max(0, self.page - 1)
        return self._reload()


def _header(label_key: str, column: str | None = None) -> rx.Component:
    if column is None:
        return rx.table.column_header_cell(AppState.tr[label_key])
    arrow = rx.cond(RecipientsState.sort == column, rx.cond(RecipientsState.descending, " ↓", " ↑"), "")
    return rx.table.column_header_cell(
        rx.link(
            AppState.tr[label_key],
            arrow,
            on_click=RecipientsState.sort_by(column),
            cursor="pointer",
            color="inherit",
            id=f"sort-{column}",
        )
    )


def recipients_page() -> rx.Component:
    statuses = [rx.select.item(AppState.tr["rstatus." + s], value=s) for s in recipients.STATUSES]
    return admin_page(
        rx.heading(AppState.tr["ops.recipients.title"], size="7", margin_bottom="16px"),
        card(
            rx.flex(
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="q",
                            id="recipient-search",
                            placeholder=AppState.tr["ops.recipients.search"],
                            default_value=RecipientsState.q,
                            width="320px",
                        ),
                        rx.button(
                            rx.icon("search", size=14),
                            AppState.tr["ops.recipients.search_button"],
                            type="submit",
                            id="recipient-search-button",
                        ),
                        rx.cond(
                            RecipientsState.q != "",
                            rx.button(
                                rx.icon("x", size=14),
                                AppState.tr["ops.recipients.clear_search"],
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                on_click=RecipientsState.clear_search,
                                id="recipient-search-clear",
                            ),
                        ),
                    ),
                    on_submit=RecipientsState.search,
                ),
                rx.select.root(
                    rx.select.trigger(id="campaign-filter", min_width="200px"),
                    rx.select.content(
                        rx.select.item(AppState.tr["ops.recipients.all_campaigns"], value=ALL),
                        rx.foreach(
                            RecipientsState.campaign_options, lambda c: rx.select.item(c["name"], value=c["id"])
                        ),
                    ),
                    value=RecipientsState.campaign_filter,
                    on_change=RecipientsState.set_campaign_filter,
                ),
                rx.select.root(
                    rx.select.trigger(id="status-filter", min_width="160px"),
                    rx.select.content(rx.select.item(AppState.tr["ops.recipients.all_statuses"], value=ALL), *statuses),
                    value=RecipientsState.status_filter,
                    on_change=RecipientsState.set_status_filter,
                ),
                spacing="3",
                wrap="wrap",
                align="center",
            ),
            rx.hstack(
                rx.text(RecipientsState.summary, size="2", color="gray", id="recipients-summary"),
                rx.spacer(),
                rx.button(
                    AppState.tr["ops.prev"],
                    on_click=RecipientsState.prev_page,
                    variant="soft",
                    size="1",
                    disabled=RecipientsState.page == 0,
                ),
                rx.text(RecipientsState.page + 1, " / ", RecipientsState.pages, size="2"),
                rx.button(
                    AppState.tr["ops.next"],
                    on_click=RecipientsState.next_page,
                    variant="soft",
                    size="1",
                    disabled=RecipientsState.page + 1 >= RecipientsState.pages,
                    id="next-page",
                ),
                width="100%",
                align="center",
                margin_y="12px",
            ),
            rx.cond(
                RecipientsState.rows.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            _header("ops.col.phone", "phone"),
                            _header("ops.col.name", "name"),
                            _header("ops.col.ref"),
                            _header("ops.col.campaign"),
                            _header("ops.col.amount", "amount"),
                            _header("ops.col.status", "status"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            RecipientsState.rows,
                            lambda r: rx.table.row(
                                rx.table.cell(
                                    rx.link(r["phone"], href="/recipients/" + r["id"], class_name="recipient-link")
                                ),
                                rx.table.cell(r["name"]),
                                rx.table.cell(r["ref"]),
                                rx.table.cell(r["campaign"]),
                                rx.table.cell(r["amount"]),
                                rx.table.cell(recipient_status(r["status"], r["deadline"])),
                            ),
                        )
                    ),
                    width="100%",
                    size="1",
                    id="recipients-search-table",
                ),
                rx.text(AppState.tr["ops.recipients.none"], color="gray", size="2"),
            ),
        ),
    )


# ------------------------------------------------------------ one recipient

_ACTION_COLORS = {
    "reissue": "teal",
    "resend": "blue",
    "extend": "cyan",
    "unlock": "amber",
    "cancel": "red",
    "mark_paid": "green",
    "record_partial_payment": "grass",
    "refund": "orange",
}


class RecipientDetailState(AppState):
    has_locked: bool = False
    # What support may do now (actions.offered_actions): no impossible action.
    offered: list[str] = []
    payments: list[dict[str, str]] = []
    found: bool = True
    info: dict[str, str] = {}
    links: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    audits: list[dict[str, str]] = []
    can_support: bool = False
    dialog_open: bool = False
    dialog_action: str = ""
    dialog_error: str = ""
    message: str = ""

    def _recipient_id(self) -> int:
        try:
            return int(getattr(self, "recipient_id", "0") or "0")
        except (TypeError, ValueError):
            return 0

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
        self.message = ""
        self.dialog_open = False
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        rid = self._recipient_id()
        with session_scope() as session:
            detail = recipients.get_detail(session, caller, rid)
            if detail is None:
                self.found = False
                self.info, self.links, self.steps, self.events, self.audits = {}, [], [], [], []
                return
            tz = detail.organisation.timezone
            shown = recipients.shown_state(session, detail.recipient)
            entries = recipients.timeline(session, caller, rid)
            audits = recipients.audit_entries(session, caller, rid)
            offered = actions.offered_actions(session, detail.recipient, detail.campaign)
            outstanding = actions.outstanding_yen(detail.recipient, detail.campaign)
            payment_rows = session.exec(
                select(Payment).where(Payment.recipient_id == rid).order_by(Payment.id.desc()).limit(10)
            ).all()
        r = detail.recipient
        now = utcnow()
        self.found = True
        self.can_support = caller.can("recipient.support")
        self.info = {
            "name": r.name,
            "phone": phone(r.phone_e164),
            "ref": r.external_ref,
            "amount": yen(r.amount_yen),
            "status": shown.status,
            "deadline": local_time(shown.payment_deadline, tz),
            "campaign": detail.campaign.name,
            "campaign_href": f"/campaigns/{detail.campaign.id}",
            # What was received and what is left (a partial payment is not "paid").
            "received": yen(r.amount_yen if r.paid_at is not None else r.partial_paid_yen or 0),
            "outstanding": yen(outstanding) if r.paid_at is None and r.status not in ("cancelled",) else "",
        }
        # Only what could succeed now (issue 15 item 10): unlock only on a
        # locked link, nothing that pays or sends again once paid.
        self.offered = offered
        self.has_locked = "unlock" in offered
        self.payments = [
            {
                "at": local_time(p.paid_at or p.created_at, tz),
                "method": self._word("method", p.method) or self._word("method", p.provider),
                "amount": yen(p.amount_yen),
                "status": self._t(f"ops.payment.status.{p.status}")
                if f"ops.payment.status.{p.status}" in CATALOG
                else "",
                "refunded": self._t("ops.payment.refunded", amount=yen(p.refunded_yen)) if p.refunded_yen else "",
            }
            for p in payment_rows
        ]
        self.links = [
            {
                "state": link.state(now),
                "created": local_time(link.created_at, tz, seconds=True),
                "expires": local_time(link.expires_at, tz, seconds=True),
                "revoked": local_time(link.revoked_at, tz, seconds=True),
                "failed": str(link.failed_attempts),
            }
            for link in detail.links[:5]
        ]
        self.steps = [
            {"label": self._t(f"ops.step.{step}"), "at": local_time(at, tz, seconds=True)}
            for step, at in detail.steps.items()
            if at is not None
        ]
        self.events = [self._event_row(e, tz) for e in reversed(entries)]
        self.audits = [
            {
                "at": local_time(a.at, tz, seconds=True),
                "action": self._t(f"ops.action.{a.action.removeprefix('support.')}")
                if f"ops.action.{a.action.removeprefix('support.')}" in CATALOG
                else a.action,
                "by": name,
                "reason": a.reason,
            }
            for a, name in audits
        ]

    def _word(self, group: str, value: object) -> str:
        """An internal code in words (``ops.word.<group>.<value>``); a value
        with no words is left out rather than shown raw (issue 15 item 8)."""
        key = f"ops.word.{group}.{value}"
        return self._t(key) if key in CATALOG else ""

    def _event_words(self, e: recipients.TimelineEntry) -> list[str]:
        """What a timeline event's detail means, in the operator's words: no
        ``ua=mobile · method=GET``, no provider message ids, no codes."""
        parts: list[str] = []
        d = e.detail
        if e.attempt:
            a = e.attempt
            parts.append(
                self._t(
                    "ops.word.attempt",
                    kind=self._word("kind", a["kind"]) or a["kind"],
                    n=a["try_number"],
                    status=self._word("status", a["status"]) or a["status"],
                )
            )
            if a["error_code"] or a["error_message"]:
                parts.append(self._t("ops.word.error", code=a["error_code"] or "-"))
        elif d.get("error_code"):
            parts.append(self._t("ops.word.error", code=d["error_code"]))
        if d.get("status") and not e.attempt:
            parts.append(self._word("status", d["status"]))
        if d.get("ua"):
            parts.append(self._word("ua", d["ua"]))
        if d.get("via"):
            parts.append(self._word("via", d["via"]))
        if d.get("payment_id") and d.get("method"):
            parts.append(self._word("method", d["method"]))
        if d.get("mode"):
            parts.append(self._word("mode", d["mode"]))
        if d.get("amount_yen") not in (None, ""):
            parts.append(yen(int(d["amount_yen"])))
        if d.get("hours") not in (None, ""):
            parts.append(self._t("ops.word.hours", hours=d["hours"]))
        if d.get("reason"):
            parts.append(self._word("reason", d["reason"]))
        if d.get("override_quiet_hours"):
            parts.append(self._t("ops.word.override_quiet_hours"))
        return [p for p in parts if p]

    def _event_row(self, e: recipients.TimelineEntry, tz: str) -> dict[str, str]:
        key = f"ops.event.{e.kind}"
        label = self._t(key) if key in CATALOG else e.kind
        parts = self._event_words(e)
        return {
            "at": local_time(e.at, tz, seconds=True),
            "kind": e.kind,
            "label": label,
            "detail": " · ".join(str(p) for p in parts),
            "actor": e.actor,
            "reason": e.reason,
            "bot": "1" if e.flagged_bot else "",
        }

    @rx.event
    @require("recipient.support", refused=lambda state, exc: setattr(state, "message", state._refusal(exc)))
    def open_action(self, action: str):
        if action not in support.ACTIONS:
            return
        self.dialog_action = action
        self.dialog_error = ""
        self.dialog_open = True

    @rx.event
    def set_dialog_open(self, value: bool):
        self.dialog_open = bool(value)

    @rx.event
    @require("recipient.support", refused=lambda state, exc: setattr(state, "dialog_error", state._refusal(exc)))
    def submit_action(self, form: dict, *, caller: auth.Caller):
        action = self.dialog_action
        hours_raw = str(form.get("hours", "") or "72").strip()
        amount_raw = str(form.get("amount", "") or "").strip()
        override = str(form.get("override", "")).lower() in ("on", "true", "1")
        try:
            with session_scope() as session:
                support.run_action(
                    session,
                    caller,
                    action,
                    self._recipient_id(),
                    str(form.get("reason", "")),
                    hours=int(hours_raw) if hours_raw.isdigit() else -1,
                    override_quiet_hours=override,
                    amount_yen=int(amount_raw.replace(",", "")) if amount_raw.replace(",", "").isdigit() else None,
                )
        except support.SupportError as exc:
            labels = {}
            if "status" in exc.fields:
                status_key = f"rstatus.{exc.fields['status']}"
                labels["status"] = self._t(status_key) if status_key in CATALOG else exc.fields["status"]
            self.dialog_error = self._refusal(exc, **labels)
            return
        self.dialog_open = False
        self.dialog_error = ""
        self.message = self._t(f"ops.action.done.{action}")
        self._refresh(caller)

    @rx.event
    @require("campaign.view", refused=quietly)
    def tick(self, _value=None, *, caller: auth.Caller):
        if not self.dialog_open:
            self._refresh(caller)


def _action_button(action: str) -> rx.Component:
    return rx.button(
        AppState.tr[f"ops.action.{action}"],
        on_click=RecipientDetailState.open_action(action),
        color_scheme=_ACTION_COLORS[action],
        variant="soft",
        id=f"action-{action}",
    )


def _action_dialog() -> rx.Component:
    a = RecipientDetailState.dialog_action
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(AppState.tr["ops.action." + a]),
            rx.dialog.description(AppState.tr["ops.action.help." + a], size="2", margin_bottom="12px"),
            rx.form(
                rx.vstack(
                    rx.text(AppState.tr["ops.action.reason"], size="2", weight="medium"),
                    rx.text_area(name="reason", id="action-reason", rows="3", width="100%"),
                    rx.cond(
                        a == "extend",
                        rx.vstack(
                            rx.text(AppState.tr["ops.action.hours"], size="2", weight="medium"),
                            rx.input(name="hours", id="action-hours", default_value="72", type="number", width="140px"),
                        ),
                    ),
                    rx.cond(
                        (a == "refund") | (a == "record_partial_payment"),
                        rx.vstack(
                            rx.text(
                                rx.cond(
                                    a == "refund",
                                    AppState.tr["ops.action.refund_amount"],
                                    AppState.tr["ops.action.partial_amount"],
                                ),
                                size="2",
                                weight="medium",
                            ),
                            rx.input(name="amount", id="action-amount", type="number", min="1", width="160px"),
                        ),
                    ),
                    rx.cond(
                        (a == "reissue") | (a == "resend"),
                        rx.hstack(
                            rx.checkbox(name="override", id="action-override"),
                            rx.text(AppState.tr["ops.action.override"], size="2"),
                            align="center",
                        ),
                    ),
                    rx.cond(
                        RecipientDetailState.dialog_error != "",
                        rx.callout(
                            RecipientDetailState.dialog_error,
                            color_scheme="red",
                            icon="triangle-alert",
                            size="1",
                            width="100%",
                            id="action-error",
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
                            AppState.tr["ops.action.confirm"], type="submit", id="action-confirm", color_scheme="teal"
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="2",
                    width="100%",
                ),
                on_submit=RecipientDetailState.submit_action,
                reset_on_submit=False,
            ),
            max_width="520px",
        ),
        open=RecipientDetailState.dialog_open,
        on_open_change=RecipientDetailState.set_dialog_open,
    )


def _kv(label, value, test_id: str = "") -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color="gray", min_width="110px"),
        rx.text(value, size="2", weight="medium", id=test_id),
        spacing="3",
    )


def recipient_page() -> rx.Component:
    i = RecipientDetailState.info
    return admin_page(
        rx.moment(interval=3000, on_change=RecipientDetailState.tick, display="none"),
        rx.link(AppState.tr["ops.detail.back"], href="/recipients", size="2"),
        rx.cond(
            RecipientDetailState.found,
            rx.vstack(
                rx.hstack(
                    rx.heading(i["name"], size="7", id="recipient-name"),
                    recipient_status(i["status"], i["deadline"], size="2", id="recipient-status"),
                    align="center",
                    spacing="3",
                ),
                rx.cond(
                    RecipientDetailState.message != "",
                    rx.callout(
                        RecipientDetailState.message,
                        icon="check",
                        color_scheme="green",
                        width="100%",
                        id="action-message",
                    ),
                ),
                rx.flex(
                    card(
                        _kv(AppState.tr["ops.col.phone"], i["phone"], "recipient-phone"),
                        rx.cond(i["ref"] != "", _kv(AppState.tr["ops.col.ref"], i["ref"])),
                        _kv(AppState.tr["ops.col.amount"], i["amount"]),
                        _kv(AppState.tr["ops.detail.received"], i["received"], "recipient-received"),
                        rx.cond(
                            i["outstanding"] != "",
                            _kv(AppState.tr["ops.detail.outstanding"], i["outstanding"], "recipient-outstanding"),
                        ),
                        _kv(AppState.tr["ops.detail.campaign"], rx.link(i["campaign"], href=i["campaign_href"])),
                        rx.text(AppState.tr["ops.detail.answers_hidden"], size="1", color="gray", margin_top="8px"),
                        rx.heading(AppState.tr["ops.detail.link"], size="3", margin_top="12px"),
                        rx.cond(
                            RecipientDetailState.links.length() > 0,
                            rx.vstack(
                                rx.foreach(
                                    RecipientDetailState.links,
                                    lambda l: rx.hstack(
                                        rx.badge(
                                            AppState.tr["ops.detail.link.state." + l["state"]],
                                            color_scheme=rx.match(
                                                l["state"], ("live", "green"), ("locked", "amber"), "gray"
                                            ),
                                            class_name="link-state",
                                        ),
                                        rx.text(
                                            AppState.tr["ops.detail.link.expires"],
                                            ": ",
                                            l["expires"],
                                            size="1",
                                            color="gray",
                                        ),
                                        align="center",
                                    ),
                                ),
                                spacing="1",
                                id="link-list",
                            ),
                            rx.text(AppState.tr["ops.detail.link.none"], size="2", color="gray"),
                        ),
                        flex="1",
                        min_width="300px",
                    ),
                    card(
                        rx.heading(AppState.tr["ops.detail.steps"], size="3", margin_bottom="6px"),
                        rx.foreach(RecipientDetailState.steps, lambda s: _kv(s["label"], s["at"])),
                        flex="1",
                        min_width="300px",
                    ),
                    spacing="4",
                    width="100%",
                    wrap="wrap",
                ),
                rx.cond(
                    RecipientDetailState.payments.length() > 0,
                    card(
                        rx.heading(AppState.tr["ops.detail.payments"], size="4", margin_bottom="8px"),
                        rx.table.root(
                            rx.table.body(
                                rx.foreach(
                                    RecipientDetailState.payments,
                                    lambda p: rx.table.row(
                                        rx.table.cell(p["at"], white_space="nowrap"),
                                        rx.table.cell(p["method"]),
                                        rx.table.cell(p["amount"], text_align="right"),
                                        rx.table.cell(rx.text(p["status"], " ", p["refunded"], size="2")),
                                    ),
                                )
                            ),
                            width="100%",
                            id="payment-list",
                        ),
                    ),
                ),
                rx.cond(
                    RecipientDetailState.can_support,
                    card(
                        rx.heading(AppState.tr["ops.detail.actions"], size="4", margin_bottom="8px"),
                        rx.flex(
                            *[
                                rx.cond(RecipientDetailState.offered.contains(a), _action_button(a))
                                for a in support.ACTIONS
                            ],
                            spacing="2",
                            wrap="wrap",
                        ),
                    ),
                ),
                card(
                    rx.heading(AppState.tr["ops.detail.timeline"], size="4", margin_bottom="8px"),
                    rx.cond(
                        RecipientDetailState.events.length() > 0,
                        rx.table.root(
                            rx.table.body(
                                rx.foreach(
                                    RecipientDetailState.events,
                                    lambda e: rx.table.row(
                                        rx.table.cell(e["at"], white_space="nowrap"),
                                        rx.table.cell(
                                            rx.hstack(
                                                rx.text(e["label"], weight="medium", size="2"),
                                                rx.cond(
                                                    e["bot"] != "",
                                                    rx.badge(
                                                        AppState.tr["ops.detail.bot"],
                                                        color_scheme="orange",
                                                        variant="soft",
                                                    ),
                                                ),
                                                spacing="2",
                                            )
                                        ),
                                        rx.table.cell(
                                            rx.vstack(
                                                rx.text(e["detail"], size="1", color="gray"),
                                                rx.cond(
                                                    e["actor"] != "",
                                                    rx.text(AppState.tr["ops.detail.by"], ": ", e["actor"], size="1"),
                                                ),
                                                rx.cond(
                                                    e["reason"] != "",
                                                    rx.text(
                                                        AppState.tr["ops.detail.reason"], ": ", e["reason"], size="1"
                                                    ),
                                                ),
                                                spacing="0",
                                            )
                                        ),
                                        data_kind=e["kind"],
                                    ),
                                )
                            ),
                            size="1",
                            width="100%",
                            id="timeline",
                        ),
                        rx.text(AppState.tr["ops.detail.timeline.empty"], size="2", color="gray"),
                    ),
                ),
                card(
                    rx.heading(AppState.tr["ops.detail.audit"], size="4", margin_bottom="8px"),
                    rx.cond(
                        RecipientDetailState.audits.length() > 0,
                        rx.table.root(
                            rx.table.body(
                                rx.foreach(
                                    RecipientDetailState.audits,
                                    lambda a: rx.table.row(
                                        rx.table.cell(a["at"], white_space="nowrap"),
                                        rx.table.cell(a["action"]),
                                        rx.table.cell(a["by"]),
                                        rx.table.cell(a["reason"]),
                                    ),
                                )
                            ),
                            size="1",
                            width="100%",
                            id="audit-log",
                        ),
                        rx.text(AppState.tr["ops.detail.audit.empty"], size="2", color="gray"),
                    ),
                ),
                _action_dialog(),
                spacing="4",
                width="100%",
                margin_top="8px",
            ),
            rx.callout(
                AppState.tr["ops.detail.not_found"], color_scheme="red", icon="triangle-alert", margin_top="16px"
            ),
        ),
    )
