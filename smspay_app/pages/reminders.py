"""Reminder-rule editor for one campaign (operators and admins): rules
relative to the due date or the first send, a maximum per recipient, and the
reminder's own SMS text. Validation in ``services.reminders``; nothing is
saved while anything is wrong, and the form keeps what was typed."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.models import Campaign
from smspay_app.services import auth, reminders
from smspay_app.state import AppState, require

RULE_FIELDS = ("anchor", "days", "at")


class RemindersState(AppState):
    found: bool = True
    name: str = ""
    back_href: str = "/campaigns"
    rules: list[dict[str, str]] = []
    max_count: str = "2"
    template: str = ""
    errors: list[str] = []
    saved: bool = False

    def _campaign_id(self) -> int:
        try:
            return int(getattr(self, "campaign_id", "0") or "0")
        except (TypeError, ValueError):
            return 0

    @rx.event
    @require("campaign.edit", refused=lambda state, _exc: setattr(state, "found", False))
    def load(self, *, caller: auth.Caller):
        cid = self._campaign_id()
        self.errors, self.saved = [], False
        with session_scope() as session:
            campaign = session.get(Campaign, cid)
            if campaign is None or campaign.organisation_id != caller.organisation_id:
                self.found = False
                return
            plan = reminders.plan_of(campaign)
            self.found = True
            self.name = campaign.name
            self.back_href = f"/campaigns/{campaign.id}"
            self.rules = [{"anchor": r.anchor, "days": str(r.days), "at": r.at} for r in plan.rules]
            self.max_count = str(plan.max_count if plan.rules else 2)
            self.template = campaign.reminder_template

    @rx.event
    def add_rule(self):
        if len(self.rules) < reminders.MAX_RULES:
            self.rules = [*self.rules, {"anchor": "due_date", "days": "1", "at": reminders.DEFAULT_AT}]
        self.saved = False

    @rx.event
    def remove_rule(self, index: int):
        self.rules = [r for i, r in enumerate(self.rules) if i != int(index)]
        self.saved = False

    @rx.event
    def set_rule(self, index: int, field: str, value: str):
        if field not in RULE_FIELDS or not 0 <= int(index) < len(self.rules):
            return
        rules = [dict(r) for r in self.rules]
        rules[int(index)][field] = str(value)[:20]
        self.rules = rules
        self.saved = False

    @rx.event
    def set_max(self, value: str):
        self.max_count = str(value)[:5]

    @rx.event
    def set_template(self, value: str):
        self.template = str(value)[:2000]

    @rx.event
    @require("campaign.edit", refused=lambda state, exc: setattr(state, "errors", [state._refusal(exc)]))
    def save(self, *, caller: auth.Caller):
        with session_scope() as session:
            try:
                reminders.save_rules(session, caller, self._campaign_id(), self.rules, self.max_count, self.template)
            except LookupError:
                self.errors = [self._t("admin.error.not_found")]
                return
            except reminders.RulesInvalid as exc:
                self.saved = False
                self.errors = [
                    self._t("dash.rem.error.rule", n=int(e.field.split(".")[1]) + 1, message=self._refusal(e))
                    if e.field.startswith("rules.")
                    else self._refusal(e)
                    for e in exc.errors
                ]
                return
        self.errors = []
        self.saved = True


def _rule_row(rule, index) -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(width="104px"),
            rx.select.content(
                rx.select.item(AppState.tr["dash.rem.anchor.due_date"], value="due_date"),
                rx.select.item(AppState.tr["dash.rem.anchor.first_send"], value="first_send"),
            ),
            value=rule["anchor"],
            on_change=lambda v: RemindersState.set_rule(index, "anchor", v),
        ),
        rx.input(
            value=rule["days"],
            on_change=lambda v: RemindersState.set_rule(index, "days", v),
            width="90px",
            aria_label="days",
            class_name="rule-days",
        ),
        rx.cond(
            rule["anchor"] == "due_date",
            rx.input(
                value=rule["at"],
                on_change=lambda v: RemindersState.set_rule(index, "at", v),
                width="90px",
                aria_label="time",
            ),
            rx.text("—", color="gray", width="90px", text_align="center"),
        ),
        rx.button(
            rx.icon("trash-2", size=14),
            AppState.tr["dash.rem.remove"],
            on_click=RemindersState.remove_rule(index),
            variant="ghost",
            color_scheme="red",
            size="1",
        ),
        align="center",
        spacing="3",
    )


def reminders_page() -> rx.Component:
    return admin_page(
        rx.link(AppState.tr["dash.rem.back"], href=RemindersState.back_href, size="2"),
        rx.cond(
            RemindersState.found,
            rx.vstack(
                rx.heading(AppState.tr["dash.rem.title"] + " — " + RemindersState.name, size="6", id="reminders-title"),
                rx.text(AppState.tr["dash.rem.help"], size="2", color="gray"),
                card(
                    rx.hstack(
                        rx.text(AppState.tr["dash.rem.anchor"], size="1", color="gray", width="104px"),
                        rx.text(AppState.tr["dash.rem.days"], size="1", color="gray", width="90px"),
                        rx.text(AppState.tr["dash.rem.at"], size="1", color="gray", width="90px"),
                        spacing="3",
                    ),
                    rx.vstack(
                        rx.foreach(RemindersState.rules, _rule_row), spacing="2", margin_y="8px", id="reminder-rules"
                    ),
                    rx.cond(
                        RemindersState.rules.length() == 0,
                        rx.text(AppState.tr["dash.rem.no_rules"], size="2", color="gray"),
                    ),
                    rx.button(
                        rx.icon("plus", size=14),
                        AppState.tr["dash.rem.add"],
                        on_click=RemindersState.add_rule,
                        variant="soft",
                        size="2",
                        id="add-rule",
                    ),
                    rx.hstack(
                        rx.text(AppState.tr["dash.rem.max"], size="2"),
                        rx.input(
                            value=RemindersState.max_count,
                            on_change=RemindersState.set_max,
                            width="80px",
                            id="reminder-max",
                        ),
                        align="center",
                        margin_top="16px",
                    ),
                ),
                card(
                    rx.text(AppState.tr["dash.rem.template"], size="2", weight="bold"),
                    rx.text(AppState.tr["dash.rem.template_help"], size="1", color="gray"),
                    rx.text_area(
                        value=RemindersState.template,
                        on_change=RemindersState.set_template,
                        rows="4",
                        width="100%",
                        margin_top="8px",
                        id="reminder-template",
                    ),
                ),
                rx.cond(
                    RemindersState.errors.length() > 0,
                    rx.callout(
                        rx.vstack(rx.foreach(RemindersState.errors, lambda e: rx.text(e, size="2")), spacing="1"),
                        color_scheme="red",
                        icon="triangle-alert",
                        width="100%",
                        id="reminder-errors",
                    ),
                ),
                rx.cond(
                    RemindersState.saved,
                    rx.callout(
                        AppState.tr["dash.rem.saved"],
                        color_scheme="green",
                        icon="check",
                        width="100%",
                        id="reminder-saved",
                    ),
                ),
                rx.button(
                    AppState.tr["dash.rem.save"],
                    on_click=RemindersState.save,
                    color_scheme="teal",
                    size="3",
                    id="save-reminders",
                ),
                spacing="4",
                width="100%",
                margin_top="8px",
                max_width="760px",
            ),
            rx.callout(
                AppState.tr["admin.error.not_found"], color_scheme="red", icon="triangle-alert", margin_top="16px"
            ),
        ),
    )
