"""The editor's five steps, one component each (basics & sending, SMS text,
recipient page, identity check, review)."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import card
from smspay_app.domain.page_text import PAGE_MESSAGE_MAX_CHARS
from smspay_app.pages.campaigns.connection_picks import connection_picks
from smspay_app.pages.campaigns.editor_state import CampaignEditorState
from smspay_app.pages.campaigns.shared import SELECT_STYLE, date_field, labelled, text_area, text_input
from smspay_app.services import campaigns
from smspay_app.state import AppState


def setter(field_name: str):
    return lambda value: CampaignEditorState.set_field(field_name, value)


def step_card(*children: rx.Component) -> rx.Component:
    return card(rx.vstack(*children, spacing="4", width="100%"))


def step_basics() -> rx.Component:
    s = CampaignEditorState
    return step_card(
        rx.heading(AppState.tr["editor.step.1"], size="4"),
        labelled(
            "editor.name",
            text_input(
                value=s.name,
                on_change=setter("name"),
                id="campaign-name",
                placeholder=AppState.tr["editor.name.placeholder"],
                width="100%",
                size="3",
            ),
        ),
        labelled(
            "editor.recipient_language",
            rx.select.root(
                rx.select.trigger(id="recipient-language"),
                rx.select.content(
                    rx.select.item("日本語", value="ja"),
                    rx.select.item("English", value="en"),
                ),
                value=s.recipient_lang,
                on_change=CampaignEditorState.set_recipient_lang,
            ),
            AppState.tr["editor.recipient_language.help"],
        ),
        labelled(
            "editor.lifetime",
            rx.hstack(
                text_input(
                    value=s.lifetime_value,
                    on_change=setter("lifetime_value"),
                    id="lifetime",
                    type="number",
                    min="1",
                    width="120px",
                ),
                rx.el.select(
                    rx.el.option(AppState.tr["editor.unit.hours"], value="hours"),
                    rx.el.option(AppState.tr["editor.unit.days"], value="days"),
                    value=s.lifetime_unit,
                    on_change=setter("lifetime_unit"),
                    id="lifetime-unit",
                    style=SELECT_STYLE,
                ),
                align="center",
            ),
            "editor.lifetime.help",
        ),
        labelled(
            "editor.send_when",
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(AppState.tr["editor.send_now"], value="now", id="send-now"),
                    rx.radio_group.item(AppState.tr["editor.send_at"], value="at", id="send-at"),
                ),
                value=s.send_mode,
                on_change=setter("send_mode"),
            ),
        ),
        rx.cond(
            s.send_mode == "at",
            date_field(value=s.scheduled_local, on_change=setter("scheduled_local"), id="scheduled-at"),
        ),
        labelled(
            "editor.quiet",
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item(s.org_quiet, value="org", id="quiet-org"),
                    rx.radio_group.item(AppState.tr["editor.quiet.override"], value="override", id="quiet-override"),
                ),
                value=s.quiet_mode,
                on_change=setter("quiet_mode"),
            ),
            "editor.quiet.help",
        ),
        rx.cond(
            s.quiet_mode == "override",
            rx.hstack(
                labelled(
                    "editor.quiet.start",
                    date_field("time", value=s.quiet_start, on_change=setter("quiet_start"), id="quiet-start"),
                    width="auto",
                ),
                labelled(
                    "editor.quiet.end",
                    date_field("time", value=s.quiet_end, on_change=setter("quiet_end"), id="quiet-end"),
                    width="auto",
                ),
            ),
        ),
        connection_picks(),
    )


def step_sms() -> rx.Component:
    s = CampaignEditorState
    return step_card(
        rx.heading(AppState.tr["editor.step.2"], size="4"),
        labelled(
            "editor.template",
            text_area(
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


def step_page() -> rx.Component:
    s = CampaignEditorState

    def line_row(line, i) -> rx.Component:
        return rx.hstack(
            text_input(
                value=line["item"],
                on_change=lambda v: CampaignEditorState.set_line(i, "item", v),
                placeholder=AppState.tr["editor.line.item"],
                flex="3",
                class_name="line-item",
            ),
            text_input(
                value=line["quantity"],
                on_change=lambda v: CampaignEditorState.set_line(i, "quantity", v),
                placeholder=AppState.tr["editor.line.quantity"],
                width="70px",
                input_mode="numeric",
                class_name="line-qty",
            ),
            text_input(
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

    return step_card(
        rx.heading(AppState.tr["editor.step.3"], size="4"),
        labelled(
            "editor.page_title",
            text_input(value=s.page_title, on_change=setter("page_title"), id="page-title", width="100%"),
        ),
        labelled(
            "editor.page_message",
            rx.vstack(
                text_area(
                    value=s.page_message,
                    on_change=setter("page_message"),
                    id="page-message",
                    rows="4",
                    width="100%",
                    max_length=PAGE_MESSAGE_MAX_CHARS,
                ),
                rx.text(AppState.tr["editor.page_message.limit"], size="1", color="gray", id="page-message-limit"),
                width="100%",
                spacing="1",
            ),
            "editor.fields.hint",
        ),
        labelled(
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
                labelled(
                    "editor.amount",
                    text_input(
                        value=s.amount, on_change=setter("amount"), id="amount", width="200px", input_mode="numeric"
                    ),
                    "editor.amount.lines_help",
                ),
                labelled(
                    "editor.due_date",
                    date_field("date", value=s.due_date, on_change=setter("due_date"), id="due-date"),
                ),
                width="100%",
                spacing="3",
            ),
            rx.vstack(
                rx.text(AppState.tr["editor.notice.help"], size="2", color="gray"),
                rx.hstack(
                    rx.checkbox(checked=s.ask_read, on_change=setter("ask_read"), id="ask-read"),
                    rx.text(AppState.tr["editor.read_confirmation"], size="2"),
                    align="center",
                ),
                width="100%",
            ),
        ),
    )


def step_identity() -> rx.Component:
    s = CampaignEditorState
    kinds = [rx.el.option(AppState.tr[f"editor.kind.{k}"], value=k) for k in campaigns.QUESTION_KINDS]

    def question(q, i) -> rx.Component:
        return rx.card(
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
            labelled(
                "editor.question_label",
                text_input(
                    value=q["label"],
                    on_change=lambda v: CampaignEditorState.set_question(i, "label", v),
                    width="100%",
                    class_name="question-label",
                ),
            ),
            rx.hstack(
                labelled(
                    "editor.question_column",
                    text_input(
                        value=q["column"],
                        on_change=lambda v: CampaignEditorState.set_question(i, "column", v),
                        width="100%",
                        class_name="question-column",
                    ),
                ),
                labelled(
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

    return step_card(
        rx.heading(AppState.tr["editor.step.4"], size="4"),
        rx.radio_group.root(
            rx.vstack(
                rx.radio_group.item(
                    AppState.tr["editor.verification.questions"], value="questions", id="verify-questions"
                ),
                rx.radio_group.item(AppState.tr["editor.verification.otp"], value="otp", id="verify-otp"),
            ),
            value=s.verification_mode,
            on_change=setter("verification_mode"),
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


def step_review() -> rx.Component:
    s = CampaignEditorState
    return step_card(
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
