"""The live campaign panel: funnel chart (sent -> delivered -> clicked ->
verified -> paid, with step conversion), clicks and payments over time, sending
progress and reminders. Its own state, refreshed every second from the
maintained counters (a few small aggregates; never recipients).

Used by the dashboard (campaign picked there) and includable on the campaign
page: ``campaign_funnel_panel(on_campaign_page=True)``, loaded by that page's
``open`` with the campaign of its route."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import CAMPAIGN_STATUS_COLORS, CHART_HEX, FUNNEL_ACCENTS, card, status_color
from smspay_app.db import session_scope
from smspay_app.domain.formatting import yen
from smspay_app.services import auth, dashboard, sending
from smspay_app.state import AppState, quietly, require

STEP_COLORS = {step: CHART_HEX[accent] for step, accent in FUNNEL_ACCENTS}  # the cards' colours
PROGRESS_KEYS = ("queued", "held", "sending", "sent", "delivered", "failed", "unknown", "cancelled")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


class FunnelPanelState(AppState):
    selected: str = ""  # the campaign shown (an id of the caller's own organisation)
    range_key: str = "48h"
    found: bool = False
    name: str = ""
    status: str = ""
    steps: list[dict[str, str]] = []
    chart: list[dict[str, str | int]] = []
    series: list[dict[str, str | int]] = []
    progress: list[dict[str, str]] = []
    progress_line: str = ""
    money: dict[str, str] = {}
    progress_pct: int = 0

    def _campaign_id(self) -> int:
        try:
            return int(self.selected or "0")
        except ValueError:
            return 0

    @rx.event
    def select(self, campaign_id: str):
        self.selected = str(campaign_id)
        return FunnelPanelState.tick

    @rx.event
    def select_default(self, campaign_id: str):
        """Show ``campaign_id`` unless the user already picked one."""
        if not self.selected:
            self.selected = str(campaign_id)
        return FunnelPanelState.tick

    def _show(self, caller: auth.Caller, campaign_id: int) -> None:
        """The campaign page opened ``campaign_id`` (its ``open``, one event
        with the page's other panels): show it now, without a round trip."""
        if campaign_id:
            self.selected = str(campaign_id)
        self._refresh(caller)

    @rx.event
    def set_range(self, value: str | list[str]):
        value = value[0] if isinstance(value, list) and value else value
        self.range_key = value if isinstance(value, str) and value in dashboard.RANGES else "48h"
        return FunnelPanelState.tick

    @rx.event
    @require("campaign.view", refused=quietly)
    def tick(self, _value=None, *, caller: auth.Caller):
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        cid = self._campaign_id()
        with session_scope() as session:
            figures = dashboard.campaign_figures(session, caller, cid) if cid else None
            if figures is None:
                self.found = False
                self.steps, self.chart, self.series, self.progress = [], [], [], []
                return
            series = dashboard.time_series(session, caller, cid, range_key=self.range_key) or []
            progress = sending.sending_progress(session, cid)
        self.found = True
        self.name = figures.name
        self.status = figures.status
        steps = dashboard.funnel_steps(figures.counts)
        self.steps = [
            {
                "step": s["step"],
                "label": self._t(f"funnel.{s['step']}"),
                "count": f"{s['count']:,}",
                "step_rate": _rate(s["step_rate"]),
                "overall_rate": _rate(s["overall_rate"]),
            }
            for s in steps
        ]
        self.chart = [
            {
                "name": self._t(f"funnel.{s['step']}"),
                "count": s["count"],
                "fill": STEP_COLORS[s["step"]],
                "label": f"{s['count']:,}" + (f" ({_rate(s['step_rate'])})" if s["step_rate"] is not None else ""),
            }
            for s in steps
        ]
        self.series = [{"label": p["label"], "clicks": p["clicks"], "payments": p["payments"]} for p in series]
        self.progress = [
            {"key": k, "label": self._t(f"dash.progress.{k}"), "count": f"{progress.get(k, 0):,}"}
            for k in PROGRESS_KEYS
        ]
        total = sum(progress.values())
        done = total - progress.get("queued", 0) - progress.get("held", 0) - progress.get("sending", 0)
        self.progress_line = self._t("dash.progress.done", done=f"{done:,}", total=f"{total:,}")
        self.money = {
            "recipients": f"{figures.counts['recipients']:,}",
            "collected": yen(figures.collected_yen),
            "outstanding": yen(figures.outstanding_yen),
            "reminders_sent": f"{figures.reminders_sent:,}",
            "reminders_queued": f"{figures.reminders_queued:,}",
        }
        self.progress_pct = round(100 * done / total) if total else 0


def _funnel_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
        rx.recharts.x_axis(data_key="name", tick_line=False),
        rx.recharts.y_axis(allow_decimals=False, width=60),
        rx.recharts.bar(
            rx.recharts.label_list(data_key="label", position="top", font_size=12),
            data_key="count",
            fill="#0f766e",
            radius=[6, 6, 0, 0],
            is_animation_active=False,
        ),
        data=FunnelPanelState.chart,
        width="100%",
        height=280,
        margin={"top": 24, "right": 8, "left": 0, "bottom": 0},
    )


def _series_chart() -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
        rx.recharts.x_axis(data_key="label", tick_line=False, min_tick_gap=24),
        rx.recharts.y_axis(allow_decimals=False, width=50),
        rx.recharts.tooltip(),
        rx.recharts.legend(),
        rx.recharts.line(
            data_key="clicks",
            name=AppState.tr["dash.series.clicks"],
            stroke="#8b5cf6",
            dot=False,
            stroke_width=2,
            is_animation_active=False,
        ),
        rx.recharts.line(
            data_key="payments",
            name=AppState.tr["dash.series.payments"],
            stroke="#16a34a",
            dot=False,
            stroke_width=2,
            is_animation_active=False,
        ),
        data=FunnelPanelState.series,
        width="100%",
        height=240,
    )


def _step_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(""),
                rx.table.column_header_cell(AppState.tr["dash.funnel.title"], justify="end"),
                rx.table.column_header_cell(AppState.tr["dash.funnel.step_rate"], justify="end"),
                rx.table.column_header_cell(AppState.tr["dash.funnel.overall_rate"], justify="end"),
            )
        ),
        rx.table.body(
            rx.foreach(
                FunnelPanelState.steps,
                lambda s: rx.table.row(
                    rx.table.cell(s["label"]),
                    rx.table.cell(rx.text(s["count"], weight="bold", id="dash-" + s["step"]), justify="end"),
                    rx.table.cell(s["step_rate"], justify="end"),
                    rx.table.cell(s["overall_rate"], justify="end"),
                ),
            )
        ),
        size="1",
        width="100%",
        id="dash-funnel-table",
    )


def _money_stat(label, value, color: str, test_id: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color="gray"),
        rx.text(value, size="5", weight="bold", color=f"var(--{color}-11)", id=test_id),
        spacing="0",
        min_width="120px",
    )


def progress_panel() -> rx.Component:
    """The dashboard's sending progress of the campaign picked (SMS, by
    attempt status; labels ``dash.progress.*``, shared with the campaign page)."""
    return card(
        rx.heading(AppState.tr["dash.progress.title"], size="3", margin_bottom="8px"),
        rx.progress(value=FunnelPanelState.progress_pct, color_scheme="teal", size="3"),
        rx.text(FunnelPanelState.progress_line, size="2", color="gray", margin_y="8px", id="dash-progress-line"),
        rx.vstack(
            rx.foreach(
                FunnelPanelState.progress,
                lambda p: rx.hstack(
                    rx.text(p["label"], size="2"),
                    rx.spacer(),
                    rx.text(p["count"], size="2", weight="bold"),
                    width="100%",
                ),
            ),
            spacing="1",
            width="100%",
        ),
        flex="1",
        min_width="240px",
    )


def campaign_funnel_panel(on_campaign_page: bool = False) -> rx.Component:
    """The live panel for ``FunnelPanelState.selected`` (or, with
    ``on_campaign_page``, the page's ``[campaign_id]``). On the campaign page
    (``on_campaign_page``) the page's header already shows the name, status and
    the one sending-progress panel: the panel shows only the money, the
    funnel and the series, so nothing is said twice (issue 15 item 4)."""
    reminders_button = rx.cond(
        AppState.user_role != "support",
        rx.link(
            rx.button(rx.icon("bell", size=14), AppState.tr["dash.reminders.edit"], variant="soft", size="2"),
            href="/campaigns/" + FunnelPanelState.selected + "/reminders",
        ),
    )
    title_row = (
        rx.hstack(rx.spacer(), reminders_button, width="100%")
        if on_campaign_page
        else rx.hstack(
            rx.heading(FunnelPanelState.name, size="5", id="dash-campaign-name"),
            rx.badge(
                AppState.tr["status." + FunnelPanelState.status],
                color_scheme=status_color(FunnelPanelState.status, CAMPAIGN_STATUS_COLORS),
                variant="soft",
            ),
            rx.badge(rx.icon("radio", size=12), AppState.tr["dash.live"], color_scheme="green", variant="outline"),
            rx.spacer(),
            reminders_button,
            align="center",
            width="100%",
            spacing="3",
        )
    )
    # The campaign page's own cards show recipients and collected already.
    money_head = (
        []
        if on_campaign_page
        else [
            _money_stat(
                AppState.tr["funnel.recipients"], FunnelPanelState.money["recipients"], "gray", "dash-recipients"
            ),
            _money_stat(
                AppState.tr["funnel.collected"], FunnelPanelState.money["collected"], "green", "dash-collected"
            ),
        ]
    )
    body = rx.cond(
        FunnelPanelState.found,
        rx.vstack(
            title_row,
            rx.flex(
                *money_head,
                _money_stat(
                    AppState.tr["dash.col.outstanding"],
                    FunnelPanelState.money["outstanding"],
                    "orange",
                    "dash-outstanding",
                ),
                _money_stat(
                    AppState.tr["dash.reminders.sent"],
                    FunnelPanelState.money["reminders_sent"],
                    "violet",
                    "dash-reminders-sent",
                ),
                _money_stat(
                    AppState.tr["dash.reminders.queued"],
                    FunnelPanelState.money["reminders_queued"],
                    "gray",
                    "dash-reminders-queued",
                ),
                spacing="5",
                wrap="wrap",
                width="100%",
            ),
            rx.flex(
                card(
                    rx.heading(AppState.tr["dash.funnel.title"], size="3", margin_bottom="4px"),
                    _funnel_chart(),
                    _step_table(),
                    flex="3",
                    min_width="320px",
                ),
                rx.fragment() if on_campaign_page else progress_panel(),
                spacing="4",
                width="100%",
                wrap="wrap",
            ),
            card(
                rx.hstack(
                    rx.heading(AppState.tr["dash.series.title"], size="3"),
                    rx.spacer(),
                    rx.segmented_control.root(
                        rx.segmented_control.item(AppState.tr["dash.series.48h"], value="48h"),
                        rx.segmented_control.item(AppState.tr["dash.series.30d"], value="30d"),
                        value=FunnelPanelState.range_key,
                        on_change=FunnelPanelState.set_range,
                        size="1",
                    ),
                    align="center",
                    width="100%",
                    margin_bottom="8px",
                ),
                _series_chart(),
            ),
            spacing="4",
            width="100%",
        ),
        rx.callout(AppState.tr["dash.funnel.none"], icon="info", width="100%"),
    )
    # On the campaign page the page's ``open`` loads the panel in the same
    # event as the page's other panels; the dashboard loads it when shown.
    loads = {} if on_campaign_page else {"on_mount": FunnelPanelState.tick}
    return rx.box(
        rx.moment(interval=1000, on_change=FunnelPanelState.tick, display="none"),
        body,
        width="100%",
        id="campaign-funnel-panel",
        **loads,
    )
