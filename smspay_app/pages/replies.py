"""Replies inbox: SMS replies of the organisation, newest first, filterable by
campaign, paged in the database."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import admin_page, card
from smspay_app.db import session_scope
from smspay_app.domain.formatting import local_time
from smspay_app.models import Organisation
from smspay_app.services import auth, recipients
from smspay_app.services import replies as replies_service
from smspay_app.state import AppState, require

ALL = "all"
PAGE_SIZE = 50


class RepliesState(AppState):
    campaign_filter: str = ALL
    page: int = 0
    total: int = 0
    rows: list[dict[str, str]] = []
    campaign_options: list[dict[str, str]] = []
    no_replies_note: str = ""  # why replies cannot arrive through this provider ("" when they can)

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
        wanted = str(self.router.url.query_parameters.get("campaign", "") or "")
        self.campaign_filter = wanted if wanted.isdigit() else ALL
        self.page = 0
        self._refresh(caller)

    def _refresh(self, caller: auth.Caller) -> None:
        campaign_id = int(self.campaign_filter) if self.campaign_filter.isdigit() else None
        with session_scope() as session:
            tz = session.get(Organisation, caller.organisation_id).timezone
            _provider, _country, caps = replies_service.capabilities_of(session, caller.organisation_id)
            self.no_replies_note = self._t(caps.two_way_note) if not caps.two_way and caps.two_way_note else ""
            self.campaign_options = [
                {"id": str(cid), "name": name} for cid, name in recipients.campaign_choices(session, caller)
            ]
            rows, self.total = recipients.replies(
                session, caller, campaign_id=campaign_id, page=self.page, page_size=PAGE_SIZE
            )
        self.rows = [
            {
                "at": local_time(r.received_at, tz),
                "from": r.from_phone,
                "body": r.body,
                "opt_out": "1" if r.is_opt_out else "",
                "unsure": "1" if r.opt_out_unsure else "",
                "recipient": r.recipient_name,
                "href": f"/recipients/{r.recipient_id}" if r.recipient_id else "",
                "campaign": r.campaign_name,
            }
            for r in rows
        ]

    @require("campaign.view")
    def _reload(self, *, caller: auth.Caller):
        self._refresh(caller)

    @rx.event
    def set_campaign_filter(self, value: str):
        self.campaign_filter = value if (value == ALL or str(value).isdigit()) else ALL
        self.page = 0
        return self._reload()

    @rx.event
    def next_page(self):
        if (self.page + 1) * PAGE_SIZE < self.total:
            self.page += 1
        return self._reload()

    @rx.event
    def prev_page(self):
        self.page = max(0, self.page - 1)
        return self._reload()


def replies_page() -> rx.Component:
    return admin_page(
        rx.heading(AppState.tr["ops.replies.title"], size="7", margin_bottom="16px"),
        rx.cond(
            RepliesState.no_replies_note != "",
            rx.callout(
                RepliesState.no_replies_note,
                icon="info",
                color_scheme="blue",
                margin_bottom="12px",
                id="replies-unsupported",
            ),
        ),
        card(
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(id="replies-campaign-filter", min_width="220px"),
                    rx.select.content(
                        rx.select.item(AppState.tr["ops.recipients.all_campaigns"], value=ALL),
                        rx.foreach(RepliesState.campaign_options, lambda c: rx.select.item(c["name"], value=c["id"])),
                    ),
                    value=RepliesState.campaign_filter,
                    on_change=RepliesState.set_campaign_filter,
                ),
                rx.spacer(),
                rx.button(AppState.tr["ops.prev"], on_click=RepliesState.prev_page, variant="soft", size="1"),
                rx.text(RepliesState.page + 1, size="2"),
                rx.button(AppState.tr["ops.next"], on_click=RepliesState.next_page, variant="soft", size="1"),
                width="100%",
                align="center",
                margin_bottom="12px",
            ),
            rx.cond(
                RepliesState.rows.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(AppState.tr["ops.replies.col.at"]),
                            rx.table.column_header_cell(AppState.tr["ops.replies.col.from"]),
                            rx.table.column_header_cell(AppState.tr["ops.replies.col.recipient"]),
                            rx.table.column_header_cell(AppState.tr["ops.col.campaign"]),
                            rx.table.column_header_cell(AppState.tr["ops.replies.col.body"]),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            RepliesState.rows,
                            lambda r: rx.table.row(
                                rx.table.cell(r["at"], white_space="nowrap"),
                                rx.table.cell(r["from"]),
                                rx.table.cell(
                                    rx.cond(
                                        r["href"] != "",
                                        rx.link(r["recipient"], href=r["href"]),
                                        rx.text(AppState.tr["ops.replies.unmatched"], color="gray"),
                                    )
                                ),
                                rx.table.cell(r["campaign"]),
                                rx.table.cell(
                                    rx.hstack(
                                        rx.text(r["body"], size="2", white_space="pre-wrap"),
                                        rx.cond(
                                            r["opt_out"] != "",
                                            rx.badge(AppState.tr["ops.replies.opt_out"], color_scheme="red"),
                                        ),
                                        rx.cond(
                                            r["unsure"] != "",
                                            rx.badge(
                                                AppState.tr["ops.replies.opt_out_unsure"],
                                                color_scheme="amber",
                                                title=AppState.tr["ops.replies.opt_out_unsure_hint"],
                                            ),
                                        ),
                                        spacing="2",
                                    )
                                ),
                            ),
                        )
                    ),
                    width="100%",
                    size="1",
                    id="replies-table",
                ),
                rx.text(AppState.tr["ops.replies.none"], color="gray", size="2"),
            ),
        ),
    )
