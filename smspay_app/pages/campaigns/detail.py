"""The campaign page (/campaigns/[campaign_id]): the panels put together, and
what opening the page loads. Each panel has its own substate beside its
components (``header``, ``send_check``, ``importing``, ``recipients_table``,
and the live funnel of ``components.funnel``); the 2-second tick reloads only
the header, which asks the others to reload when what they show changed.

Other areas add their piece with ONE line in the marked slots of
``_campaign_panels`` (header buttons, panels)."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.funnel import FunnelPanelState, campaign_funnel_panel
from smspay_app.components.layout import admin_page
from smspay_app.components.ops import campaign_ops_links
from smspay_app.pages.campaigns.header import (
    CampaignDetailState,
    actions,
    end_controls,
    funnel_cards,
    held_callout,
    progress_card,
    schedule_controls,
    sms_card,
)
from smspay_app.pages.campaigns.importing import ImportState, upload_card
from smspay_app.pages.campaigns.recipients_table import RecipientTableState, recipients_card
from smspay_app.pages.campaigns.send_check import SendCheckState, check_card
from smspay_app.pages.campaigns.shared import route_param_in_browser, status_badge
from smspay_app.services import auth
from smspay_app.state import AppState, require


class CampaignPageState(AppState):
    """What opening the page (or moving to another campaign in the same tab)
    loads: every panel its own part, in ONE event."""

    @rx.event
    @require("campaign.view")
    async def open(self, *, caller: auth.Caller):
        """One state lock, one delta and one render in the browser for the
        whole page (issue 16 item 5: it was five on_load handlers, each its
        own round trip and render, and the funnel panel loaded three times).
        The send check, which reads every recipient, follows in the
        background."""
        header = await self.get_state(CampaignDetailState)
        header._open(caller)
        (await self.get_state(RecipientTableState))._open(caller)
        (await self.get_state(ImportState))._open(caller)
        (await self.get_state(SendCheckState))._open()
        # The live funnel shows this campaign, never the one of a previous
        # visit (opened from the list; issue 15 item 3).
        (await self.get_state(FunnelPanelState))._show(caller, header._campaign_id() if header.found else 0)
        return SendCheckState.run_check


DETAIL_ON_LOAD = [CampaignPageState.open]


def campaign_detail_page() -> rx.Component:
    return admin_page(
        rx.moment(interval=2000, on_change=CampaignDetailState.tick, display="none"),
        rx.link(AppState.tr["detail.back"], href="/campaigns", size="2"),
        rx.cond(
            CampaignDetailState.opened_route_id == route_param_in_browser("campaign_id"),
            _campaign_panels(),
            # Opened from another page in the same tab: nothing of the
            # previous campaign is shown (nor rendered, issue 16 item 5)
            # while this one's panels load.
            rx.hstack(
                rx.spinner(size="2"),
                rx.text(AppState.tr["detail.opening"], size="2", color="gray"),
                role="status",
                align="center",
                spacing="2",
                margin_top="16px",
                id="campaign-opening",
            ),
        ),
    )


def _campaign_panels() -> rx.Component:
    s = CampaignDetailState
    editable = (s.status == "draft") & (AppState.user_role != "support")
    return rx.fragment(
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
                    actions(),
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
                held_callout(),
                funnel_cards(),
                end_controls(),
                rx.cond(s.status != "draft", progress_card()),
                # --- slot: panels of other areas (funnel chart ...), one line each ---
                rx.cond(s.status != "draft", campaign_funnel_panel(on_campaign_page=True)),
                rx.cond(
                    s.status == "draft",
                    rx.flex(
                        rx.vstack(
                            rx.cond(editable, upload_card()),
                            check_card(schedule_controls()),
                            flex="2",
                            min_width="0",
                            spacing="4",
                        ),
                        rx.box(sms_card(), flex="1", min_width="260px"),
                        spacing="4",
                        width="100%",
                        wrap="wrap",
                    ),
                    sms_card(),
                ),
                recipients_card(),
                spacing="4",
                width="100%",
                margin_top="8px",
            ),
            rx.callout(
                AppState.tr["admin.error.not_found"], color_scheme="red", icon="triangle-alert", margin_top="16px"
            ),
        ),
    )
