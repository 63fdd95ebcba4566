"""/usage: SMS sent and segments per month, by provider and by campaign, for
the organisation's admins (their own organisation) and for the installation
owner (``?org=<id>``). Thin: services.usage does the counting and the CSV."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page, card, stat
from smspay_app.db import session_scope
from smspay_app.domain.formatting import people_month
from smspay_app.pages.campaigns.shared import SELECT_STYLE
from smspay_app.services import auth, usage
from smspay_app.state import AppState, quietly, require


class UsageState(AppState):
    month: str = ""  # YYYY-MM
    # The months the picker offers (value YYYY-MM, label in the UI language):
    # a select, not a native month field, which follows the browser's locale.
    month_options: list[dict[str, str]] = []
    org_label: str = ""
    messages: int = 0
    segments: int = 0
    cap: int = 0
    providers: list[dict[str, str]] = []
    campaigns: list[dict[str, str]] = []
    loaded: bool = False

    def _org_id(self, caller: auth.Caller) -> int:
        if caller.can("installation.manage"):
            wanted = str(self.router.url.query_parameters.get("org", "") or "")
            return int(wanted) if wanted.isdigit() else 0
        return caller.organisation_id

    def _ym(self) -> tuple[int | None, int | None]:
        parts = self.month.split("-")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            return int(parts[0]), int(parts[1])
        return None, None

    def _get(self, caller: auth.Caller) -> usage.MonthUsage:
        with session_scope() as session:
            return usage.month_usage(session, caller, self._org_id(caller), *self._ym())

    def _show(self, got: usage.MonthUsage) -> None:
        self.month = f"{got.year:04d}-{got.month:02d}"
        if self.month not in {o["value"] for o in self.month_options}:
            self.month_options = _months_up_to(got.year, got.month, self.ui_lang)
        self.org_label = got.organisation_name
        self.messages, self.segments, self.cap = got.messages, got.segments, got.monthly_sms_cap
        self.providers = [
            {"provider": usage.provider_label(p, self.ui_lang), "messages": str(m), "segments": str(s)}
            for p, (m, s) in got.by_provider().items()
        ]
        self.campaigns = [
            {
                "provider": usage.provider_label(r.provider, self.ui_lang),
                "campaign": r.campaign_name,
                "messages": str(r.messages),
                "segments": str(r.segments),
            }
            for r in got.rows
        ]

    def _away(self):
        self.loaded = False
        return rx.redirect("/login")

    @rx.event
    @require(refused=lambda state, _exc: state._away())
    def load(self, *, caller: auth.Caller):
        self.month = ""
        self.month_options = []
        try:
            self._show(self._get(caller))
        except auth.NotAllowed:
            return self._away()
        self.loaded = True

    @rx.event
    @require(refused=quietly)
    def pick_month(self, value: str, *, caller: auth.Caller):
        self.month = str(value or "")[:7]
        try:
            self._show(self._get(caller))
        except auth.NotAllowed:
            return

    @rx.event
    @require(refused=quietly)
    def export(self, *, caller: auth.Caller):
        try:
            got = self._get(caller)
        except auth.NotAllowed:
            return
        name = f"usage-{got.year:04d}-{got.month:02d}.csv"
        return rx.download(data=usage.to_csv([got], self.ui_lang), filename=name, mime_type="text/csv")


def _months_up_to(year: int, month: int, lang: str, count: int = 24) -> list[dict[str, str]]:
    """``count`` months ending at ``year``/``month``, the newest first."""
    options = []
    index = year * 12 + month - 1
    for i in range(count):
        y, m = divmod(index - i, 12)
        options.append({"value": f"{y:04d}-{m + 1:02d}", "label": people_month(y, m + 1, lang)})
    return options


def _table(rows, first_key: str, first_field: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(AppState.tr[first_key]),
                rx.table.column_header_cell(AppState.tr["usage.messages"]),
                rx.table.column_header_cell(AppState.tr["usage.segments"]),
            )
        ),
        rx.table.body(
            rx.foreach(
                rows,
                lambda r: rx.table.row(
                    rx.table.cell(r[first_field]),
                    rx.table.cell(r["messages"]),
                    rx.table.cell(r["segments"]),
                ),
            )
        ),
        width="100%",
    )


def usage_page() -> rx.Component:
    return admin_page(
        rx.hstack(
            rx.heading(AppState.tr["usage.title"], size="7"),
            rx.text(UsageState.org_label, color="gray"),
            rx.spacer(),
            rx.el.select(
                rx.foreach(UsageState.month_options, lambda o: rx.el.option(o["label"], value=o["value"])),
                value=UsageState.month,
                on_change=UsageState.pick_month,
                id="usage-month",
                style=SELECT_STYLE,
            ),
            rx.button(AppState.tr["usage.export"], on_click=UsageState.export, variant="soft", id="usage-export"),
            align="center",
            width="100%",
            margin_bottom="16px",
        ),
        rx.hstack(
            stat(AppState.tr["usage.messages"], UsageState.messages, "teal", "usage-messages"),
            stat(AppState.tr["usage.segments"], UsageState.segments, "blue", "usage-segments"),
            rx.cond(UsageState.cap > 0, stat(AppState.tr["owner.cap"], UsageState.cap, "amber", "usage-cap")),
            spacing="3",
            margin_bottom="16px",
        ),
        rx.vstack(
            card(
                rx.heading(AppState.tr["usage.by_provider"], size="4"),
                _table(UsageState.providers, "usage.provider", "provider"),
            ),
            card(
                rx.heading(AppState.tr["usage.by_campaign"], size="4"),
                _table(UsageState.campaigns, "usage.campaign", "campaign"),
            ),
            spacing="4",
            width="100%",
        ),
    )
