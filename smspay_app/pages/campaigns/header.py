"""The campaign page's header and actions: name, status, funnel counts, sending
progress, the SMS text and summary, and send / schedule / pause / resume /
cancel. ``CampaignDetailState`` is the only part of the page the 2-second tick
reloads (a few counters); it asks the recipients table to reload when the
counts moved and the send check to run again when the status changed."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.layout import card, funnel_stats, stat
from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import local_time, yen
from smspay_app.models import Organisation
from smspay_app.pages.campaigns.recipients_table import RecipientTableState
from smspay_app.pages.campaigns.send_check import SendCheckState
from smspay_app.pages.campaigns.shared import local_to_utc, route_campaign_id, text_input
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, quietly, require


class CampaignDetailState(AppState):
    found: bool = True
    name: str = ""
    status: str = ""
    edit_href: str = ""
    sms_template: str = ""
    summary_lines: list[str] = []
    counts: dict[str, str] = {}
    progress: dict[str, str] = {}
    recipient_total: int = 0
    scheduled_text: str = ""
    paused_reason: str = ""  # why the system paused it (Campaign.paused_reason, translated)
    schedule_local: str = ""
    timezone: str = ""
    action_message: str = ""
    action_ok: bool = True
    confirm_cancel: bool = False

    def _campaign_id(self) -> int:
        return route_campaign_id(self)

    @rx.event
    @require("campaign.view")
    def load(self, *, caller: auth.Caller):
        self.action_message = ""
        self.confirm_cancel = False
        self._refresh(caller)

    @rx.event
    @require("campaign.view", refused=quietly)
    def tick(self, _value=None, *, caller: auth.Caller):
        before = (self.status, self.counts)
        self._refresh(caller)
        return self._follow_up(before)

    def _follow_up(self, before: tuple[str, dict[str, str]]) -> list:
        """What else on the page must reload after the header changed."""
        events = []
        if before[1] != self.counts:
            events.append(RecipientTableState.refresh)
        if before[0] != self.status:
            events.append(SendCheckState.run_check)
        return events

    def _refresh(self, caller: auth.Caller) -> None:
        from smspay_app.services import sending

        with session_scope() as session:
            campaign = campaigns.get_campaign(session, caller, self._campaign_id())
            if campaign is None:
                self.found = False
                self.name = ""
                self.counts = {}
                self.progress = {}
                return
            org = session.get(Organisation, campaign.organisation_id)
            self.timezone = org.timezone
            self.found = True
            self.name = campaign.name
            self.status = campaign.status
            self.edit_href = f"/campaigns/{campaign.id}/edit"
            self.sms_template = campaign.sms_template
            self.scheduled_text = (
                self._t("detail.scheduled_for", at=local_time(campaign.scheduled_at, org.timezone))
                if campaign.scheduled_at
                else ""
            )
            self.paused_reason = self._t(campaign.paused_reason) if campaign.paused_reason else ""
            questions = campaigns.questions_of(session, campaign.id)
            quiet = (
                (campaign.quiet_hours_start, campaign.quiet_hours_end)
                if campaign.quiet_hours_start
                else (org.quiet_hours_start, org.quiet_hours_end)
            )
            self.summary_lines = [
                self._t("detail.lifetime", hours=campaign.link_lifetime_hours),
                self._t("detail.amount", amount=yen(campaign.amount_yen))
                if campaign.payment_enabled
                else self._t("detail.no_payment"),
                f"{self._t('editor.quiet')}: {quiet[0]}–{quiet[1]}",
                *(
                    [f"{self._t('detail.questions')}: {self._t('editor.verification.otp')}"]
                    if campaign.verification_mode == "otp"
                    else [f"{self._t('detail.questions')}: {q.label} ({q.column})" for q in questions]
                ),
            ]
            counts = campaigns.funnel_counts(session, campaign.id)
            self.recipient_total = counts["recipients"]
            self.counts = {k: (yen(v) if k.endswith("_yen") else str(v)) for k, v in counts.items()}
            self.progress = {k: f"{v:,}" for k, v in sending.sending_progress(session, campaign.id).items()}

    # -- sending

    @rx.event
    def send(self):
        return self._send(None)

    @rx.event
    def schedule(self):
        at = local_to_utc(self.schedule_local, self.timezone)
        if at is None:
            self.action_ok = False
            self.action_message = self._t("campaign.error.schedule_invalid")
            return
        return self._send(at)

    @rx.event
    def set_schedule_local(self, value: str):
        self.schedule_local = str(value or "")[:32]

    def _action_refused(self, exc: Refused) -> None:
        self.action_ok = False
        self.action_message = self._refusal(exc)

    @require("campaign.send", refused=lambda state, exc: state._action_refused(exc))
    def _send(self, at, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                queued = campaigns.send_campaign(session, caller, self._campaign_id(), scheduled_at=at)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(self._refusal(p) for p in exc.problems)
            return
        self.action_ok = True
        if at is None:
            self.action_message = self._t("detail.sending_started", count=queued)
        else:
            self.action_message = self._t("detail.scheduled", at=self.schedule_local.replace("T", " "), count=queued)
        return self._changed(caller)

    @rx.event
    def pause(self):
        return self._change("pause", "detail.paused")

    @rx.event
    def resume(self):
        return self._change("resume", "detail.resumed")

    @rx.event
    def ask_cancel(self, open_: bool = True):
        self.confirm_cancel = bool(open_)

    @rx.event
    def cancel(self):
        self.confirm_cancel = False
        return self._change("cancel", "detail.cancelled")

    @require("campaign.send", refused=lambda state, exc: state._action_refused(exc))
    def _change(self, action: str, done_key: str, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                count = campaigns.change_sending(session, caller, self._campaign_id(), action)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(self._refusal(p) for p in exc.problems)
            return
        self.action_ok = True
        self.action_message = self._t(done_key, count=count)
        return self._changed(caller)

    def _changed(self, caller: auth.Caller) -> list:
        """After a send or a state change: the header, the table and the check."""
        self._refresh(caller)
        return [RecipientTableState.refresh, SendCheckState.run_check]


# ----------------------------------------------------------------- components


def funnel_cards() -> rx.Component:
    c = CampaignDetailState.counts
    return rx.flex(
        stat(AppState.tr["funnel.recipients"], c["recipients"], test_id="count-recipients"),
        *funnel_stats(c, "count"),
        stat(AppState.tr["funnel.collected"], c["paid_yen"], "green", "collected"),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def progress_card() -> rx.Component:
    p = CampaignDetailState.progress
    keys = ("queued", "held", "sending", "sent", "delivered", "failed", "cancelled")
    return card(
        rx.hstack(
            rx.heading(AppState.tr["detail.progress.title"], size="4"),
            rx.text(CampaignDetailState.scheduled_text, size="2", color="gray"),
            spacing="3",
            align="center",
        ),
        rx.cond(
            CampaignDetailState.paused_reason != "",
            rx.callout(
                CampaignDetailState.paused_reason,
                icon="circle-pause",
                color_scheme="amber",
                size="1",
                margin_top="8px",
                id="paused-reason",
            ),
        ),
        rx.flex(
            *[
                rx.vstack(
                    rx.text(AppState.tr[f"detail.progress.{k}"], size="1", color="gray"),
                    rx.text(p[k], size="5", weight="bold", id=f"progress-{k}"),
                    spacing="0",
                    min_width="90px",
                )
                for k in keys
            ],
            spacing="4",
            wrap="wrap",
            margin_top="8px",
        ),
        id="sending-progress",
    )


def actions() -> rx.Component:
    s = CampaignDetailState
    can_send = AppState.user_role != "support"
    return rx.hstack(
        rx.cond(
            (s.status == "draft") & can_send,
            rx.link(
                rx.button(
                    rx.icon("pencil", size=16), AppState.tr["detail.edit"], variant="soft", size="3", id="edit-button"
                ),
                href=s.edit_href,
            ),
        ),
        rx.cond(
            (s.status == "draft") & can_send & (s.recipient_total > 0),
            rx.button(
                rx.icon("send", size=16),
                AppState.tr["detail.send"],
                on_click=CampaignDetailState.send,
                color_scheme="teal",
                size="3",
                id="send-button",
                disabled=~SendCheckState.check_ok,
            ),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled")) & can_send,
            rx.button(
                rx.icon("pause", size=16),
                AppState.tr["detail.pause"],
                on_click=CampaignDetailState.pause,
                variant="soft",
                color_scheme="orange",
                size="3",
                id="pause-button",
            ),
        ),
        rx.cond(
            (s.status == "paused") & can_send,
            rx.button(
                rx.icon("play", size=16),
                AppState.tr["detail.resume"],
                on_click=CampaignDetailState.resume,
                color_scheme="teal",
                size="3",
                id="resume-button",
            ),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled") | (s.status == "paused")) & can_send,
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(
                    rx.button(
                        AppState.tr["detail.cancel"], variant="soft", color_scheme="red", size="3", id="cancel-button"
                    )
                ),
                rx.alert_dialog.content(
                    rx.alert_dialog.title(AppState.tr["detail.cancel"]),
                    rx.alert_dialog.description(AppState.tr["detail.cancel_confirm"]),
                    rx.hstack(
                        rx.alert_dialog.cancel(
                            rx.button(AppState.tr["detail.cancel_no"], variant="soft", color_scheme="gray")
                        ),
                        rx.alert_dialog.action(
                            rx.button(
                                AppState.tr["detail.cancel_yes"],
                                color_scheme="red",
                                on_click=CampaignDetailState.cancel,
                                id="cancel-confirm",
                            )
                        ),
                        justify="end",
                        spacing="3",
                        margin_top="16px",
                    ),
                ),
            ),
        ),
        spacing="2",
        align="center",
    )


def sms_card() -> rx.Component:
    return card(
        rx.heading(AppState.tr["detail.sms_text"], size="4", margin_bottom="8px"),
        rx.text(
            CampaignDetailState.sms_template,
            size="2",
            white_space="pre-wrap",
            background="var(--gray-3)",
            padding="10px",
            border_radius="8px",
        ),
        rx.vstack(
            rx.foreach(CampaignDetailState.summary_lines, lambda s: rx.text(s, size="2", color="gray")),
            spacing="1",
            margin_top="8px",
        ),
    )


def schedule_controls() -> rx.Component:
    """Send later: shown inside the send check once the campaign may be sent."""
    s = CampaignDetailState
    return rx.cond(
        SendCheckState.check_ok & (AppState.user_role != "support"),
        rx.hstack(
            text_input(
                type="datetime-local",
                value=s.schedule_local,
                on_change=CampaignDetailState.set_schedule_local,
                id="schedule-at",
                width="220px",
            ),
            rx.button(
                rx.icon("clock", size=14),
                AppState.tr["detail.schedule"],
                on_click=CampaignDetailState.schedule,
                variant="soft",
                id="schedule-button",
            ),
            rx.text(s.timezone, size="1", color="gray"),
            align="center",
            margin_top="10px",
        ),
    )
