"""The editor's phone preview (issue 15 item 7): a phone outline at a phone's
width (360 CSS px inside, an ordinary Android/iPhone screen) beside every
step. Steps other than the page step show the SMS as the phone receives it
(``services.sms_message.editor_preview``: the bytes the simulator gets, for
the first imported recipient or sample values) with its size; the page step
shows the recipient page (title, message, invoice lines, total, the button)
in the recipients' language, filled with sample values."""

from __future__ import annotations

import reflex as rx

from smspay_app.pages.campaigns.editor_state import CampaignEditorState
from smspay_app.state import AppState

PHONE_WIDTH = "360px"  # the screen, inside the outline
_BEZEL = "10px"
_OUTER_WIDTH = "380px"


def phone_frame(*children: rx.Component, **props) -> rx.Component:
    """A phone outline: status bar, then ``children`` on the screen."""
    return rx.box(
        rx.hstack(
            rx.text("9:41", size="1", weight="bold"),
            rx.spacer(),
            rx.icon("signal", size=12),
            rx.icon("battery", size=12),
            width="100%",
            padding_x="6px",
        ),
        *children,
        background="white",
        border=f"{_BEZEL} solid #1f2937",
        border_radius="32px",
        padding="12px 12px 28px",
        min_height="420px",
        width=_OUTER_WIDTH,
        box_sizing="border-box",
        class_name="phone-frame",
        **props,
    )


def sms_screen() -> rx.Component:
    s = CampaignEditorState
    return phone_frame(
        rx.text(AppState.org_name, size="1", color="gray", text_align="center", width="100%", margin_y="6px"),
        rx.box(
            rx.text(s.sms_preview, size="2", white_space="pre-wrap", word_break="break-all", id="sms-preview"),
            background="#e9e9eb",
            border_radius="16px 16px 16px 4px",
            padding="10px 12px",
            max_width="85%",
        ),
        rx.text(s.sms_segments, size="1", color="gray", margin_top="4px", id="sms-segments"),
        id="sms-phone",
    )


def page_screen() -> rx.Component:
    s = CampaignEditorState
    p = s.page_preview
    return phone_frame(
        rx.text(p["host"], size="1", color="gray", text_align="center", width="100%", margin_y="6px"),
        rx.vstack(
            rx.text(p["title"], size="4", weight="bold", id="page-preview-title"),
            rx.cond(p["message"] != "", rx.text(p["message"], size="2", white_space="pre-wrap")),
            rx.cond(
                s.payment_enabled,
                rx.vstack(
                    rx.cond(
                        s.page_preview_lines.length() > 0,
                        rx.vstack(
                            rx.text(p["invoice"], size="2", weight="medium"),
                            rx.foreach(
                                s.page_preview_lines,
                                lambda line: rx.hstack(
                                    rx.text(line["item"], size="1", flex="1"),
                                    rx.text(line["detail"], size="1", color="gray"),
                                    rx.text(line["total"], size="1"),
                                    width="100%",
                                ),
                            ),
                            width="100%",
                            spacing="1",
                        ),
                    ),
                    rx.text(p["total_label"], size="1", color="gray"),
                    rx.text(p["total"], size="6", weight="bold", id="page-preview-total"),
                    rx.cond(p["due"] != "", rx.text(p["due"], size="1")),
                    rx.box(
                        p["pay"],
                        background="#0f766e",
                        color="white",
                        border_radius="8px",
                        padding="10px",
                        text_align="center",
                        width="100%",
                        font_weight="600",
                    ),
                    width="100%",
                    spacing="2",
                ),
                rx.cond(
                    s.ask_read,
                    rx.box(
                        p["read"],
                        background="#0f766e",
                        color="white",
                        border_radius="8px",
                        padding="10px",
                        text_align="center",
                        width="100%",
                    ),
                    rx.text(p["notice_end"], size="1", color="gray"),
                ),
            ),
            width="100%",
            spacing="3",
            padding="6px",
        ),
        id="page-phone",
    )


def phone_preview() -> rx.Component:
    """The editor's preview column: the recipient page on the page step, the
    SMS elsewhere; size, cost and warnings under the phone."""
    s = CampaignEditorState
    return rx.box(
        rx.text(
            rx.cond(s.step == 3, AppState.tr["editor.preview.page"], AppState.tr["editor.preview"]),
            size="1",
            color="gray",
            margin_bottom="6px",
        ),
        rx.cond(s.step == 3, page_screen(), sms_screen()),
        rx.text(
            rx.cond(s.step == 3, AppState.tr["editor.preview.page_sample"], s.preview_note),
            size="1",
            color="gray",
            margin_top="6px",
        ),
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
        width=_OUTER_WIDTH,
    )
