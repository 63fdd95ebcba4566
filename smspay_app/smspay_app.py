"""The Reflex app: admin pages, plus (in front of Reflex) the Starlette web
app with short links, recipient pages, webhooks and the built-in simulators."""

from __future__ import annotations

import reflex as rx

from smspay_app.pages.account import AccountState, account_page
from smspay_app.pages.campaigns import (
    DETAIL_ON_LOAD,
    CampaignEditorState,
    CampaignListState,
    campaign_detail_page,
    campaign_new_page,
    campaigns_list_page,
)
from smspay_app.pages.dashboard import DashboardState, dashboard_page
from smspay_app.pages.developers import DevelopersState, developers_page
from smspay_app.pages.installation import OwnerState, installation_page
from smspay_app.pages.login import login_page
from smspay_app.pages.optouts import OptOutsState, optouts_page
from smspay_app.pages.recipients import RecipientDetailState, RecipientsState, recipient_page, recipients_page
from smspay_app.pages.reminders import RemindersState, reminders_page
from smspay_app.pages.replies import RepliesState, replies_page
from smspay_app.pages.settings import OrgSettingsState, UsersState, settings_page, users_page
from smspay_app.pages.setup import SetupState, SignupState, setup_page, signup_page
from smspay_app.pages.usage import UsageState, usage_page
from smspay_app.state import AppState, LoginState
from smspay_app.web.app import build_web_app
from smspay_app.web.server_log import backend_exception_handler


def index() -> rx.Component:
    return rx.center(rx.spinner(), min_height="100vh")


app = rx.App(
    html_lang="ja",  # the default UI language; AppState.html_lang follows the user's choice
    api_transformer=build_web_app(),
    # A state-manager error (Redis) logs one clear line (issue 17, item 7).
    backend_exception_handler=backend_exception_handler,
    head_components=[rx.el.meta(name="referrer", content="no-referrer")],
)
app.add_page(index, route="/", title="smspay", on_load=AppState.guard)
app.add_page(login_page, route="/login", title="smspay | ログイン / Sign in", on_load=LoginState.redirect_if_signed_in)
app.add_page(
    campaigns_list_page,
    route="/campaigns",
    title="smspay | キャンペーン / Campaigns",
    on_load=[AppState.guard, CampaignListState.load],
)
app.add_page(
    campaign_new_page,
    route="/campaigns/new",
    title="smspay | 新規キャンペーン / New campaign",
    on_load=[AppState.guard, CampaignEditorState.start],
)
app.add_page(
    campaign_new_page,
    route="/campaigns/[campaign_id]/edit",
    title="smspay | キャンペーンの編集 / Edit campaign",
    on_load=[AppState.guard, CampaignEditorState.start_edit],
)
app.add_page(
    campaign_detail_page,
    route="/campaigns/[campaign_id]",
    title="smspay | キャンペーン / Campaign",
    on_load=[AppState.guard, *DETAIL_ON_LOAD],
)
app.add_page(
    recipients_page,
    route="/recipients",
    title="smspay | 宛先検索 / Recipients",
    on_load=[AppState.guard, RecipientsState.load],
)
app.add_page(
    recipient_page,
    route="/recipients/[recipient_id]",
    title="smspay | 宛先 / Recipient",
    on_load=[AppState.guard, RecipientDetailState.load],
)
app.add_page(
    replies_page, route="/replies", title="smspay | 返信 / Replies", on_load=[AppState.guard, RepliesState.load]
)
app.add_page(
    optouts_page, route="/opt-outs", title="smspay | 配信停止 / Opt-outs", on_load=[AppState.guard, OptOutsState.load]
)

app.add_page(
    settings_page,
    route="/settings",
    title="smspay | 組織の設定 / Settings",
    on_load=[AppState.guard, OrgSettingsState.load],
)
app.add_page(
    users_page,
    route="/settings/users",
    title="smspay | ユーザーと権限 / Users",
    on_load=[AppState.guard, UsersState.load],
)
# Settings → Connections (issue 13): the organisation's own SMS / payment accounts.
from smspay_app.pages.connections import ConnectionsState, connections_page  # noqa: E402

app.add_page(
    connections_page,
    route="/settings/connections",
    title="smspay | 接続 / Connections",
    on_load=[AppState.guard, ConnectionsState.load],
)
app.add_page(
    account_page, route="/account", title="smspay | アカウント / Account", on_load=[AppState.guard, AccountState.load]
)
app.add_page(
    developers_page,
    route="/developers",
    title="smspay | 開発者向け / Developers",
    on_load=[AppState.guard, DevelopersState.load],
)

app.add_page(
    dashboard_page,
    route="/dashboard",
    title="smspay | ダッシュボード / Dashboard",
    on_load=[AppState.guard, DashboardState.load],
)
app.add_page(
    reminders_page,
    route="/campaigns/[campaign_id]/reminders",
    title="smspay | リマインド設定 / Reminders",
    on_load=[AppState.guard, RemindersState.load],
)

# Onboarding (issue 19): first set-up, the installation owner, usage.
app.add_page(setup_page, route="/setup/[token]", title="smspay | セットアップ / Set-up", on_load=SetupState.load)
app.add_page(
    installation_page,
    route="/installation",
    title="smspay | 組織の管理 / Organisations",
    on_load=[AppState.guard, OwnerState.load],
)
app.add_page(signup_page, route="/signup", title="smspay | 利用申し込み / Apply", on_load=SignupState.load)
app.add_page(usage_page, route="/usage", title="smspay | 利用量 / Usage", on_load=[AppState.guard, UsageState.load])


def _register_background_work() -> None:
    from smspay_app.web.app import freeze_start_up_objects
    from smspay_app.worker import run_in_app

    app.register_lifespan_task(freeze_start_up_objects)  # after the pages are compiled
    app.register_lifespan_task(run_in_app)


_register_background_work()
