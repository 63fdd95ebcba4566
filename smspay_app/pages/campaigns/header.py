"""The campaign page's header and actions: name, status, funnel counts, sending
progress, the SMS text and summary, and send / schedule / pause / resume /
close / cancel. ``CampaignDetailState`` is the only part of the page the 2-second tick
reloads (a few counters); it asks the recipients table to reload when the
counts moved and the send check to run again when the status changed."""

from __future__ import annotations

import reflex as rx

from smspay_app.components.funnel import PROGRESS_KEYS
from smspay_app.components.layout import card, funnel_stats, stat
from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.domain.formatting import input_datetime, local_input_to_utc, local_time, yen
from smspay_app.models import Organisation
from smspay_app.pages.campaigns.recipients_table import RecipientTableState
from smspay_app.pages.campaigns.send_check import SendCheckState
from smspay_app.pages.campaigns.shared import date_field, route_campaign_id, text_input
from smspay_app.services import auth, campaigns
from smspay_app.state import AppState, quietly, require


class CampaignDetailState(AppState):
    found: bool = True
    name: str = ""
    status: str = ""
    paused_reason_text: str = ""  # why the system paused it (an account error...), translated
    edit_href: str = ""
    sms_template: str = ""
    summary_lines: list[str] = []
    counts: dict[str, str] = {}
    progress: dict[str, str] = {}
    recipient_total: int = 0
    scheduled_text: str = ""
    schedule_local: str = ""
    closes_local: str = ""
    closes_text: str = ""
    timezone: str = ""
    action_message: str = ""
    action_ok: bool = True
    confirm_cancel: bool = False
    send_now_reason: str = ""
    progress_line: str = ""
    held_text: str = ""
    # The route argument of the campaign the page's panels hold (set when the
    # page opens): until it is the address's, the page shows it is loading,
    # never the previous campaign's name, counts and buttons.
    opened_route_id: str = ""

    def _campaign_id(self) -> int:
        return route_campaign_id(self)

    def _open(self, caller: auth.Caller) -> None:
        """The page opened (``CampaignPageState.open``): no message of another
        visit, the header loaded."""
        self.action_message = ""
        self.confirm_cancel = False
        self._refresh(caller)
        self.opened_route_id = str(getattr(self, "campaign_id", "") or "")

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
            self.paused_reason_text = self._t(campaign.paused_reason) if campaign.paused_reason else ""
            self.edit_href = f"/campaigns/{campaign.id}/edit"
            self.sms_template = campaign.sms_template
            self.scheduled_text = (
                self._t("detail.scheduled_for", at=local_time(campaign.scheduled_at, org.timezone))
                if campaign.scheduled_at
                else ""
            )
            self.closes_text = (
                self._t("detail.closes_at", at=local_time(campaign.closes_at, org.timezone))
                if campaign.closes_at
                else ""
            )
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
            progress = sending.sending_progress(session, campaign.id)
            self.progress = {k: f"{v:,}" for k, v in progress.items()}
            total = sum(progress.values())
            done = total - progress["queued"] - progress["held"] - progress["sending"]
            self.progress_line = self._t("dash.progress.done", done=f"{done:,}", total=f"{total:,}")
            self.held_text = (
                self._t(
                    "detail.send_now.held",
                    count=f"{progress['held']:,}",
                    until=local_time(sending.held_until(session, campaign.id), org.timezone),
                )
                if progress["held"]
                else ""
            )

    # -- sending

    @rx.event
    def send(self):
        return self._send(None)

    @rx.event
    def set_send_now_reason(self, value: str):
        self.send_now_reason = str(value or "")[:500]

    @rx.event
    def send_now(self):
        """The confirmation's "send now anyway" (quiet hours ignored, reason audited)."""
        return self._send(None, send_now=True)

    @rx.event
    def release_held(self):
        return self._release_held()

    @require("campaign.send", refused=lambda state, exc: state._action_refused(exc))
    def _release_held(self, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                released = campaigns.send_held_now(session, caller, self._campaign_id(), self.send_now_reason)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(self._refusal(p) for p in exc.problems)
            return
        self.send_now_reason = ""
        self.action_ok = True
        self.action_message = self._t("detail.send_now.done", count=released)
        return self._changed(caller)

    @rx.event
    def schedule(self):
        at = local_input_to_utc(self.schedule_local, self.timezone)
        if at is None:
            self.action_ok = False
            self.action_message = self._t("campaign.error.schedule_invalid")
            return
        return self._send(at)

    @rx.event
    def set_schedule_local(self, value: str):
        self.schedule_local = str(value or "")[:32]

    @rx.event
    def set_closes_local(self, value: str):
        self.closes_local = str(value or "")[:32]

    @rx.event
    def save_end(self):
        return self._save_end()

    @require("campaign.send", refused=lambda state, exc: state._action_refused(exc))
    def _save_end(self, *, caller: auth.Caller):
        at = local_input_to_utc(self.closes_local, self.timezone) if self.closes_local.strip() else None
        if self.closes_local.strip() and at is None:
            self.action_ok = False
            self.action_message = self._t("campaign.error.schedule_invalid")
            return
        try:
            with session_scope() as session:
                campaigns.set_end(session, caller, self._campaign_id(), at)
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(self._refusal(p) for p in exc.problems)
            return
        self.action_ok = True
        self.action_message = self._t("detail.closes_saved") if at else self._t("detail.closes_cleared")
        self._refresh(caller)

    def _action_refused(self, exc: Refused) -> None:
        self.action_ok = False
        self.action_message = self._refusal(exc)

    @require("campaign.send", refused=lambda state, exc: state._action_refused(exc))
    def _send(self, at, send_now: bool = False, *, caller: auth.Caller):
        try:
            with session_scope() as session:
                queued = campaigns.send_campaign(
                    session,
                    caller,
                    self._campaign_id(),
                    scheduled_at=at,
                    send_now_reason=self.send_now_reason if send_now else None,
                )
        except campaigns.SendBlocked as exc:
            self.action_ok = False
            self.action_message = " ".join(self._refusal(p) for p in exc.problems)
            return
        self.action_ok = True
        self.send_now_reason = ""
        if at is None:
            self.action_message = self._t("detail.sending_started", count=queued)
        else:
            self.action_message = self._t("detail.scheduled", at=input_datetime(at, self.timezone), count=queued)
        return self._changed(caller)

    @rx.event
    def pause(self):
        return self._change("pause", "detail.paused")

    @rx.event
    def resume(self):
        return self._change("resume", "detail.resumed")

    @rx.event
    def close(self):
        return self._change("close", "detail.closed")

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
    """The campaign page's one sending-progress panel: SMS by attempt status,
    with the dashboard's labels (``dash.progress.*``: one vocabulary)."""
    p = CampaignDetailState.progress
    keys = PROGRESS_KEYS
    return card(
        rx.hstack(
            rx.heading(AppState.tr["dash.progress.title"], size="4"),
            rx.text(CampaignDetailState.progress_line, size="2", color="gray", id="progress-line"),
            rx.text(CampaignDetailState.scheduled_text, size="2", color="gray"),
            spacing="3",
            align="center",
        ),
        rx.cond(
            CampaignDetailState.paused_reason_text != "",
            rx.callout(
                CampaignDetailState.paused_reason_text,
                icon="triangle_alert",
                color_scheme="orange",
                margin_top="8px",
                id="paused-reason",
            ),
        ),
        rx.flex(
            *[
                rx.vstack(
                    rx.text(AppState.tr[f"dash.progress.{k}"], size="1", color="gray"),
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
            send_dialog(),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled") | (s.status == "active")) & can_send,
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
            ((s.status == "active") | (s.status == "paused")) & can_send,
            rx.button(
                rx.icon("archive", size=16),
                AppState.tr["detail.close"],
                on_click=CampaignDetailState.close,
                variant="soft",
                color_scheme="gray",
                size="3",
                id="close-button",
            ),
        ),
        rx.cond(
            ((s.status == "sending") | (s.status == "scheduled") | (s.status == "paused") | (s.status == "active"))
            & can_send,
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


def _reason_input(id_: str) -> rx.Component:
    return text_input(
        placeholder=AppState.tr["detail.send_now.reason"],
        value=CampaignDetailState.send_now_reason,
        on_change=CampaignDetailState.set_send_now_reason,
        id=id_,
        width="100%",
    )


def send_dialog() -> rx.Component:
    """Send asks first: recipients, SMS count, estimated cost, when sending
    starts; inside quiet hours how many wait and until when, and "send now
    anyway" with a reason (audited)."""
    c = SendCheckState
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("send", size=16),
                AppState.tr["detail.send"],
                color_scheme="teal",
                size="3",
                id="send-button",
                disabled=~c.check_ok,
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(AppState.tr["detail.confirm.title"]),
            rx.vstack(
                rx.foreach(c.confirm_lines, lambda line: rx.text(line, size="2")),
                rx.cond(c.wait_text != "", rx.callout(c.wait_text, icon="moon", color_scheme="amber", size="1")),
                spacing="1",
                id="send-confirm-summary",
            ),
            rx.cond(
                c.wait_text != "",
                rx.vstack(
                    rx.text(AppState.tr["detail.send_now.hint"], size="1", color="gray"),
                    _reason_input("send-now-reason"),
                    rx.alert_dialog.action(
                        rx.button(
                            AppState.tr["detail.send_now.yes"],
                            on_click=CampaignDetailState.send_now,
                            variant="soft",
                            color_scheme="orange",
                            disabled=CampaignDetailState.send_now_reason == "",
                            id="send-now-confirm",
                        )
                    ),
                    spacing="2",
                    margin_top="12px",
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button(AppState.tr["detail.confirm.no"], variant="soft", color_scheme="gray")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        rx.cond(
                            c.wait_text != "", AppState.tr["detail.confirm.yes_wait"], AppState.tr["detail.confirm.yes"]
                        ),
                        color_scheme="teal",
                        on_click=CampaignDetailState.send,
                        id="send-confirm",
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def held_callout() -> rx.Component:
    """Messages held for quiet hours: how many, until when, and "send now
    anyway" (confirmation with a reason, audited)."""
    s = CampaignDetailState
    return rx.cond(
        s.held_text != "",
        rx.callout(
            rx.vstack(
                rx.text(s.held_text, size="2"),
                rx.cond(
                    AppState.user_role != "support",
                    rx.alert_dialog.root(
                        rx.alert_dialog.trigger(
                            rx.button(
                                AppState.tr["detail.send_now.title"],
                                size="1",
                                variant="soft",
                                color_scheme="orange",
                                id="held-send-now",
                            )
                        ),
                        rx.alert_dialog.content(
                            rx.alert_dialog.title(AppState.tr["detail.send_now.title"]),
                            rx.alert_dialog.description(s.held_text),
                            rx.text(AppState.tr["detail.send_now.hint"], size="1", color="gray"),
                            _reason_input("held-send-now-reason"),
                            rx.hstack(
                                rx.alert_dialog.cancel(
                                    rx.button(AppState.tr["detail.confirm.no"], variant="soft", color_scheme="gray")
                                ),
                                rx.alert_dialog.action(
                                    rx.button(
                                        AppState.tr["detail.send_now.yes"],
                                        color_scheme="orange",
                                        on_click=CampaignDetailState.release_held,
                                        disabled=s.send_now_reason == "",
                                        id="held-send-now-confirm",
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
            ),
            icon="moon",
            color_scheme="amber",
            width="100%",
            id="held-callout",
        ),
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


def end_controls() -> rx.Component:
    """The campaign's configured end: it closes then (nothing more is sent)."""
    s = CampaignDetailState
    return rx.cond(
        (s.status != "closed") & (s.status != "cancelled") & (AppState.user_role != "support"),
        rx.hstack(
            rx.text(AppState.tr["detail.closes_label"], size="2"),
            date_field(value=s.closes_local, on_change=CampaignDetailState.set_closes_local, id="closes-at"),
            rx.button(
                AppState.tr["detail.closes_save"],
                on_click=CampaignDetailState.save_end,
                variant="soft",
                id="closes-button",
            ),
            rx.text(s.closes_text, size="1", color="gray", id="closes-text"),
            align="center",
            wrap="wrap",
        ),
    )


def schedule_controls() -> rx.Component:
    """Send later: shown inside the send check once the campaign may be sent."""
    s = CampaignDetailState
    return rx.cond(
        SendCheckState.check_ok & (AppState.user_role != "support"),
        rx.hstack(
            date_field(value=s.schedule_local, on_change=CampaignDetailState.set_schedule_local, id="schedule-at"),
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
