"""The live dashboard: every campaign of the organisation (funnel counts,
collected and outstanding yen, reminders) and, for the campaign picked, the
live funnel panel (``components.funnel``). Refreshed every second from the
maintained counters; handlers check the caller and call services."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.funnel import FunnelPanelState, campaign_funnel_panel, yen
from smspay_app.components.layout import admin_page, card, funnel_stats, stat
from smspay_app.db import session_scope
from smspay_app.pages.campaigns.shared import status_badge
from smspay_app.services import auth, dashboard
from smspay_app.state import AppState, quietly, require


class DashboardState(AppState):
    rows: list[dict[str, str]] = []
    totals: dict[str, str] = {}
    sending_alert: str = ""  # the organisation's sending is stopped, and why (translated)

    def _refresh(self, caller: auth.Caller) -> str:
        with session_scope() as session:
            ov = dashboard.overview(session, caller)
        reasons = [ov.sending_paused_reason, *(f.paused_reason for f in ov.campaigns)]
        self.sending_alert = next((self._t(r) for r in reasons if r), "")
        self.rows = [
            {
                "id": str(f.id),
                "name": f.name,
                "status": f.status,
                "recipients": f"{f.counts['recipients']:,}",
                "sent": f"{f.counts['sent']:,}",
                "delivered": f"{f.counts['delivered']:,}",
                "clicked": f"{f.counts['clicked']:,}",
                "verified": f"{f.counts['verified']:,}",
                "paid": f"{f.counts['paid']:,}",
                "collected": yen(f.collected_yen),
                "outstanding": yen(f.outstanding_yen),
                "reminders": f"{f.reminders_sent:,}",
            }
            for f in ov.campaigns
        ]
        t = ov.totals
        self.totals = {
            **{
                k: f"{t[k]:,}"
                for k in ("recipients", "sent", "delivered", "clicked", "verified", "paid", "reminders_sent")
            },
            "collected": yen(t["collected_yen"]),
            "outstanding": yen(t["outstanding_yen"]),
        }
        return self.rows[0]["id"] if self.rows else ""

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
        first = self._refresh(caller)
        if first:
            return FunnelPanelState.select_default(first)

    @rx.event
    @require("campaign.view", refused=quietly)
    def tick(self, _value=None, *, caller: auth.Caller):
        self._refresh(caller)


COLUMNS = (
    ("dash.col.campaign", "name"),
    ("dash.col.status", None),
    ("funnel.sent", "sent"),
    ("funnel.delivered", "delivered"),
    ("funnel.clicked", "clicked"),
    ("funnel.verified", "verified"),
    ("funnel.paid", "paid"),
    ("dash.col.collected", "collected"),
    ("dash.col.outstanding", "outstanding"),
    ("dash.col.reminders", "reminders"),
)


def _overview_table() -> rx.Component:
    def row(r):
        cells = []
        for _, key in COLUMNS:
            if key is None:
                cells.append(rx.table.cell(status_badge(r["status"])))
            elif key == "name":
                cells.append(rx.table.cell(rx.text(r["name"], weight="medium")))
            else:
                cells.append(rx.table.cell(r[key], justify="end"))
        return rx.table.row(
            *cells,
            on_click=FunnelPanelState.select(r["id"]),
            cursor="pointer",
            background=rx.cond(FunnelPanelState.selected == r["id"], "var(--teal-a3)", "transparent"),
            id="dash-row-" + r["id"],
        )

    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(AppState.tr[label], justify="start" if key in ("name", None) else "end")
                    for label, key in COLUMNS
                ]
            )
        ),
        rx.table.body(rx.foreach(DashboardState.rows, row)),
        width="100%",
        size="1",
        id="dash-overview",
    )


def dashboard_page() -> rx.Component:
    t = DashboardState.totals
    return admin_page(
        rx.moment(interval=1000, on_change=DashboardState.tick, display="none"),
        rx.vstack(
            rx.hstack(
                rx.heading(AppState.tr["dash.title"], size="7"),
                rx.badge(rx.icon("radio", size=12), AppState.tr["dash.live"], color_scheme="green", variant="outline"),
                align="center",
                spacing="3",
            ),
            rx.cond(
                DashboardState.sending_alert != "",
                rx.callout(
                    DashboardState.sending_alert,
                    icon="triangle_alert",
                    color_scheme="orange",
                    width="100%",
                    id="sending-paused-alert",
                ),
            ),
            rx.flex(
                *funnel_stats(t, "total"),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            rx.flex(
                stat(AppState.tr["dash.total.collected"], t["collected"], "green", "total-collected"),
                stat(AppState.tr["dash.total.outstanding"], t["outstanding"], "orange", "total-outstanding"),
                stat(AppState.tr["dash.total.reminders"], t["reminders_sent"], "gray", "total-reminders"),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            card(
                rx.heading(AppState.tr["dash.overview"], size="4", margin_bottom="8px"),
                rx.cond(
                    DashboardState.rows.length() > 0,
                    rx.box(_overview_table(), overflow_x="auto", width="100%"),
                    rx.text(AppState.tr["dash.empty"], color="gray", size="2"),
                ),
            ),
            campaign_funnel_panel(),
            spacing="4",
            width="100%",
        ),
    )
