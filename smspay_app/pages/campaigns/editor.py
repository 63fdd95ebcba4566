"""The editor page (/campaigns/new, /campaigns/[id]/edit): the stepper, the
current step and the live phone preview (pages/campaigns/preview.py)."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page
from smspay_app.pages.campaigns.editor_state import STEPS, CampaignEditorState
from smspay_app.pages.campaigns.editor_steps import step_basics, step_identity, step_page, step_review, step_sms
from smspay_app.pages.campaigns.preview import phone_preview
from smspay_app.pages.campaigns.shared import BRAND_COLOR
from smspay_app.state import AppState


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
                    (1, step_basics()),
                    (2, step_sms()),
                    (3, step_page()),
                    (4, step_identity()),
                    step_review(),
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
                    # Cancel goes back where the operator came from (the
                    # campaign page when editing), not always to the list.
                    rx.button(
                        AppState.tr["editor.cancel"],
                        variant="ghost",
                        color_scheme="gray",
                        size="3",
                        type="button",
                        on_click=rx.call_script(
                            "window.history.length > 1 ? window.history.back() : window.location.assign('/campaigns')"
                        ),
                        id="editor-cancel",
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
