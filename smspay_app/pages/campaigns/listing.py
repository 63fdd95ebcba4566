"""The campaign list (/campaigns): one row per campaign with its funnel
counts, from the maintained counters."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page, card, prefetch_page
from smspay_app.db import session_scope
from smspay_app.domain.formatting import yen
from smspay_app.pages.campaigns.shared import status_badge
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, require


class CampaignListState(AppState):
    rows: list[dict[str, str]] = []

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
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
                "collected": yen(n["paid_yen"]),
            }
            for c, n in listed
        ]


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
            rx.cond(
                CampaignListState.rows.length() > 0,
                prefetch_page("/campaigns/" + CampaignListState.rows[0]["id"]),
            ),
        ),
    )
