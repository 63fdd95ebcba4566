"""The campaign page's recipients table: one page of 50 rows at a time (the
rest stay in the database). ``RecipientTableState`` reloads when the page
opens, when the user pages, and when the header sees the counts move."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import card, recipient_status
from smspay_app.db import session_scope
from smspay_app.domain.formatting import local_time, phone, yen
from smspay_app.models import Organisation
from smspay_app.pages.campaigns.shared import PAGE_SIZE, route_campaign_id
from smspay_app.services import auth, campaigns, recipients
from smspay_app.state import AppState, quietly, require


class RecipientTableState(AppState):
    recipients: list[dict[str, str]] = []
    page: int = 0
    total: int = 0

    def _campaign_id(self) -> int:
        return route_campaign_id(self)

    def _open(self, caller: auth.Caller) -> None:
        """The page opened (``CampaignPageState.open``): its first page."""
        self.page = 0
        self._refresh(caller)

    @rx.event
    @require("campaign.view", refused=quietly)
    def refresh(self, *, caller: auth.Caller):
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            if campaign is None:
                self.recipients, self.total = [], 0
                return
            self.total = campaigns.funnel_counts(session, campaign.id)["recipients"]
            rows = campaigns.recipients_page(
                session, caller, campaign.id, offset=self.page * PAGE_SIZE, limit=PAGE_SIZE
            )
            shown = recipients.shown_states(session, [(r.id, r.status) for r in rows])
            tz = session.get(Organisation, campaign.organisation_id).timezone
        self.recipients = [
            {
                "phone": phone(r.phone_e164),
                "name": r.name,
                "amount": yen(r.amount_yen),
                "status": shown[r.id].status,
                "deadline": local_time(shown[r.id].payment_deadline, tz),
            }
            for r in rows
        ]

    @rx.event
    def next_page(self):
        if (self.page + 1) * PAGE_SIZE < self.total:
            self.page += 1
        return RecipientTableState.refresh

    @rx.event
    def prev_page(self):
        self.page = max(0, self.page - 1)
        return RecipientTableState.refresh


def recipients_card() -> rx.Component:
    return card(
        rx.hstack(
            rx.heading(AppState.tr["detail.recipients"], size="4"),
            rx.spacer(),
            rx.button(
                AppState.tr["detail.page_prev"], on_click=RecipientTableState.prev_page, variant="soft", size="1"
            ),
            rx.text(RecipientTableState.page + 1, size="2"),
            rx.button(
                AppState.tr["detail.page_next"], on_click=RecipientTableState.next_page, variant="soft", size="1"
            ),
            align="center",
            width="100%",
            margin_bottom="8px",
        ),
        rx.cond(
            RecipientTableState.recipients.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(AppState.tr["detail.col.phone"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.name"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.amount"]),
                        rx.table.column_header_cell(AppState.tr["detail.col.status"]),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        RecipientTableState.recipients,
                        lambda r: rx.table.row(
                            rx.table.cell(r["phone"]),
                            rx.table.cell(r["name"]),
                            rx.table.cell(r["amount"]),
                            rx.table.cell(recipient_status(r["status"], r["deadline"])),
                        ),
                    )
                ),
                width="100%",
                id="recipients-table",
            ),
            rx.text(AppState.tr["detail.recipients.empty"], color="gray", size="2"),
        ),
    )
