"""The check before send: validation and the worst case (characters,
segments, cost) over every recipient. ``SendCheckState`` runs in the
background, only when the page opens, after an import and after the status
changes, never on the 2-second tick."""

from __future__ import annotations

import asyncio

import reflex as rx

from smspay_app.components.layout import card
from smspay_app.db import session_scope
from smspay_app.domain.formatting import local_time, yen
from smspay_app.models import Organisation
from smspay_app.pages.campaigns.shared import route_campaign_id
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, quietly, require


class SendCheckState(AppState):
    check_ok: bool = False
    check_lines: list[str] = []
    check_problems: list[str] = []
    # quiet hours at send time, and what the send confirmation repeats
    wait_text: str = ""
    confirm_lines: list[str] = []

    def _campaign_id(self) -> int:
        return route_campaign_id(self)

    def _open(self) -> None:
        """The page opened (``CampaignPageState.open``, which then runs the
        check): nothing is sendable until the check has run."""
        self.check_ok = False
        self.check_lines, self.check_problems = [], []
        self.wait_text, self.confirm_lines = "", []

    @rx.event(background=True)
    @require("campaign.view", refused=quietly)
    async def run_check(self, *, caller: auth.Caller):
        """Validation before send and the worst case over every recipient. It
        reads every row (seconds for 100,000), so it runs in a thread while the
        server keeps serving; the result is applied when it is ready."""
        campaign_id = self._campaign_id()

        def compute():
            with session_scope() as session:
                campaign = campaigns.get_campaign(session, caller, campaign_id)
                if campaign is None:
                    return None
                org = session.get(Organisation, campaign.organisation_id)
                return campaigns.send_check(session, caller, campaign), org.segment_price_yen, org.timezone

        result = await asyncio.to_thread(compute)
        if result is None:
            return
        check, price, tz = result
        async with self:
            if self._campaign_id() != campaign_id:
                return  # the page moved on to another campaign meanwhile
            est = check.estimate
            lines = []
            if est.worst is not None:
                lines.append(
                    self._t(
                        "detail.check.worst",
                        chars=est.worst.chars,
                        segments=est.worst.segments,
                        encoding=self._t(f"sms.encoding.{est.worst.encoding}"),
                    )
                )
                lines.append(
                    self._t(
                        "detail.check.cost",
                        rows=f"{est.rows:,}",
                        total=f"{est.total_segments:,}",
                        cost=f"{est.cost_yen:,}",
                        price=f"{price:g}",
                    )
                )
            elif not check.recipients:
                lines.append(self._t("detail.check.none"))
            self.check_lines = lines
            starts = local_time(check.starts_at, tz)
            self.wait_text = (
                self._t("detail.check.wait", count=f"{check.waiting:,}", until=local_time(check.waits_until, tz), tz=tz)
                if check.waits_until is not None
                else ""
            )
            self.confirm_lines = [
                self._t("detail.confirm.recipients", count=f"{check.recipients:,}"),
                self._t("detail.confirm.sms", count=f"{getattr(est, 'total_segments', 0):,}"),
                self._t("detail.confirm.cost", cost=yen(check.cost_yen)),
                self._t(
                    "detail.confirm.starts",
                    at=local_time(check.waits_until, tz) if check.waits_until is not None else starts,
                    tz=tz,
                ),
            ]
            self.check_problems = [self._refusal(p) for p in check.problems]
            self.check_ok = check.ok


def check_card(*extra: rx.Component) -> rx.Component:
    """The check's result; ``extra`` (the schedule controls) goes below it."""
    s = SendCheckState
    return card(
        rx.heading(AppState.tr["detail.check.title"], size="4", margin_bottom="8px"),
        rx.vstack(rx.foreach(s.check_lines, lambda line: rx.text(line, size="2")), spacing="1", id="send-estimate"),
        rx.cond(
            s.wait_text != "",
            rx.callout(s.wait_text, icon="moon", color_scheme="amber", size="1", margin_top="8px", id="send-wait"),
        ),
        rx.cond(
            s.check_ok,
            rx.callout(
                AppState.tr["detail.check.ok"],
                icon="check",
                color_scheme="green",
                size="1",
                margin_top="8px",
                id="send-ready",
            ),
            rx.callout(
                rx.vstack(
                    rx.text(AppState.tr["detail.check.blocked"], size="2", weight="medium"),
                    rx.foreach(s.check_problems, lambda p: rx.text(AppState.tr["detail.check.bullet"], p, size="2")),
                    spacing="1",
                ),
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                margin_top="8px",
                id="send-blockers",
            ),
        ),
        *extra,
    )
