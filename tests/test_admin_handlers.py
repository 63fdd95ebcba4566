"""Reflex event handlers can be called by any client with any arguments: each
must check the caller's session, role and organisation itself. These tests
call the handlers directly, as a forged client would, and check that nothing
is revealed or changed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import reflex as rx
from sqlmodel import func, select

from smspay_app.db import session_scope
from smspay_app.models import Campaign, Recipient, SendAttempt
from smspay_app.services import auth, campaigns
from tests.factories import make_org, signed_in
from tests.helpers import OpenedCampaignPage, open_campaign_page


@pytest.fixture
def app_module(settings):
    import smspay_app.smspay_app as module  # registers the pages and their route args

    return module


def _state(state_cls, token: str, campaign_id: int | None = None):
    root = rx.State(_reflex_internal_init=True)
    if campaign_id is not None:
        root.router_data = root._update_router_vars(
            {"query": {"campaign_id": str(campaign_id)}, "pathname": f"/campaigns/{campaign_id}"}, {}
        )
    state = root.get_substate(state_cls.get_full_name().split("."))
    state._bind_session(token)
    return state


@pytest.fixture
def two_orgs(session):
    a, b = make_org(session, "A社"), make_org(session, "B社")
    token_a, caller_a = signed_in(session, a, "admin")
    token_b, _ = signed_in(session, b, "admin")
    token_support_a, _ = signed_in(session, a, "support")
    campaign = campaigns.create_campaign(
        session,
        caller_a,
        campaigns.CampaignInput(name="A社の請求", sms_template="{{name}}様 {{link}}", amount_yen=1000),
    )
    session.add(Recipient(campaign_id=campaign.id, organisation_id=a.id, phone_e164="+819012345678", name="山田"))
    session.commit()
    return dict(campaign_id=campaign.id, a=token_a, b=token_b, support_a=token_support_a)


def _snapshot(session, campaign_id):
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    return (
        campaign.status,
        session.exec(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id)).one(),
        session.exec(select(func.count()).select_from(SendAttempt)).one(),
    )


async def test_other_organisation_cannot_read_campaign(app_module, session, two_orgs):
    other = await open_campaign_page(two_orgs["b"], two_orgs["campaign_id"])
    assert other.header.found is False
    assert other.header.name == "" and other.header.counts == {}
    assert other.table.recipients == [] and other.table.total == 0
    assert other.funnel.found is False and other.funnel.selected == "" and other.funnel.steps == []

    own = await open_campaign_page(two_orgs["a"], two_orgs["campaign_id"])
    assert own.header.found is True and own.header.name == "A社の請求"
    assert len(own.table.recipients) == 1


async def test_opening_the_campaign_page_loads_every_panel_in_one_event(app_module, session, two_orgs):
    """One on_load event (issue 16 item 5): the header, the recipients table
    (its first page), the funnel panel (this campaign, not the one of an
    earlier visit in the tab), no upload or result of an earlier visit; the
    send check follows in the background."""
    from smspay_app.pages.campaigns import SendCheckState

    page = OpenedCampaignPage(two_orgs["a"], two_orgs["campaign_id"])
    page.funnel.selected = "999"  # the tab showed another campaign before
    page.table.page = 3
    page.importing.import_message, page.check.check_ok = "前回の取り込み結果", True
    await page.reopen()
    assert page.header.name == "A社の請求" and page.header.counts["recipients"] == "1"
    assert page.table.page == 0 and [r["name"] for r in page.table.recipients] == ["山田"]
    assert page.funnel.selected == str(two_orgs["campaign_id"]) and page.funnel.found is True
    assert page.funnel.money["recipients"] == "1"
    assert page.importing.import_message == "" and page.check.check_ok is False
    assert page.followed_by == SendCheckState.run_check


def test_other_organisation_cannot_send(app_module, session, two_orgs):
    from smspay_app.pages.campaigns import CampaignDetailState

    before = _snapshot(session, two_orgs["campaign_id"])
    state = _state(CampaignDetailState, two_orgs["b"], two_orgs["campaign_id"])
    CampaignDetailState.send.fn(state)
    assert _snapshot(session, two_orgs["campaign_id"]) == before == ("draft", 1, 0)
    assert state.action_message  # told why


@pytest.mark.parametrize("who", ["b", "support_a", "signed_out"])
async def test_upload_refused_for_wrong_org_role_or_no_session(app_module, session, two_orgs, who):
    from smspay_app.pages.campaigns import ImportState

    token = "" if who == "signed_out" else two_orgs[who]
    before = _snapshot(session, two_orgs["campaign_id"])
    state = _state(ImportState, token, two_orgs["campaign_id"])
    csv = "電話番号,氏名\n08011112222,侵入 者\n".encode()
    upload = rx.UploadFile(file=io.BytesIO(csv), path=Path("x.csv"), size=len(csv))
    result = ImportState.handle_upload.fn(state, [upload])
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass
    else:
        await result
    assert _snapshot(session, two_orgs["campaign_id"]) == before


def test_support_cannot_send_or_create(app_module, session, two_orgs):
    from smspay_app.pages.campaigns import CampaignDetailState, CampaignEditorState

    before = _snapshot(session, two_orgs["campaign_id"])
    state = _state(CampaignDetailState, two_orgs["support_a"], two_orgs["campaign_id"])
    CampaignDetailState.send.fn(state)
    assert _snapshot(session, two_orgs["campaign_id"]) == before

    editor = _state(CampaignEditorState, two_orgs["support_a"])
    editor.template = "{{name}}様 {{link}}"
    CampaignEditorState.submit.fn(editor, {"name": "support's campaign", "amount_yen": "100"})
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Campaign)).one() == 1


def test_signed_out_guard_redirects(app_module, session, two_orgs):
    from smspay_app.state import AppState

    state = _state(AppState, "forged-token")
    result = AppState.guard.fn(state)
    assert result is not None and "/login" in str(result)
    assert state.user_name == ""


def test_require_hides_the_caller_from_the_client_and_checks_every_call(app_module, session, two_orgs):
    """``@require`` hands the checked caller to the handler; Reflex (and so a
    client) sees only the handler's own arguments, and each call is checked."""
    from smspay_app.pages.optouts import OptOutsState
    from smspay_app.state import require

    assert "caller" not in OptOutsState.add.get_parameters()
    assert list(OptOutsState.add.get_parameters()) == ["self", "form"]
    assert "caller" not in OptOutsState.add._get_type_hints()

    seen = []

    class Probe:
        def __init__(self, token):
            self.token = token

        def _caller(self, permission=None):
            if self.token != "good":
                raise auth.NotAllowed()
            return f"caller for {permission}"

        @require("campaign.view", refused=lambda state, exc: ("refused", exc.key))
        def handler(self, value, *, caller):
            seen.append((value, caller))
            return "ran"

    assert Probe("good").handler(1) == "ran"
    assert Probe("bad").handler(2) == ("refused", "admin.error.not_allowed")
    assert seen == [(1, "caller for campaign.view")]
    with pytest.raises(TypeError):
        Probe("good").handler(3, caller="forged")


def test_signed_out_or_lacking_permission_the_page_handlers_refuse(app_module, session, two_orgs):
    from smspay_app.pages.optouts import OptOutsState

    state = _state(OptOutsState, "forged-token")
    assert "/login" in str(OptOutsState.load.fn(state))
    OptOutsState.add.fn(state, {"phone": "09012345678", "reason": "x"})
    assert state.ok is False and state.message == auth.NotAllowed().text("ja")


async def test_the_campaign_tick_reloads_the_header_and_the_table_only_when_the_counts_move(
    app_module, session, two_orgs
):
    """The 2-second tick reloads the header's counters; the recipients table
    (its own substate) reloads only when the counts changed, the send check
    only when the status changed. Import and table data are not in the header."""
    from smspay_app.pages.campaigns import CampaignDetailState, ImportState, RecipientTableState, SendCheckState

    assert not {"recipients", "map_rows", "check_lines"} & set(CampaignDetailState.vars)
    assert {"map_rows", "mapping"} <= set(ImportState.vars) and "check_lines" in SendCheckState.vars

    campaign_id = two_orgs["campaign_id"]
    state = (await open_campaign_page(two_orgs["a"], campaign_id)).header
    assert state.counts["recipients"] == "1"
    assert CampaignDetailState.tick.fn(state) == []

    org_id = session.get(Campaign, campaign_id).organisation_id
    session.add(Recipient(campaign_id=campaign_id, organisation_id=org_id, phone_e164="+819087654321", name="佐藤"))
    session.commit()
    assert CampaignDetailState.tick.fn(state) == [RecipientTableState.refresh]
    assert state.counts["recipients"] == "2"

    with session_scope() as s:
        s.get(Campaign, campaign_id).status = "paused"
        s.commit()
    assert CampaignDetailState.tick.fn(state) == [SendCheckState.run_check]


def test_the_editor_saves_a_campaign_with_an_amount_and_invoice_lines(app_module, session, two_orgs):
    from smspay_app.pages.campaigns import CampaignEditorState

    editor = _state(CampaignEditorState, two_orgs["a"])
    CampaignEditorState.start.fn(editor)
    editor.lines = [{"item": "会費", "quantity": "2", "unit_price": "1,500"}]
    CampaignEditorState.submit.fn(editor, {"name": "会費の請求", "amount_yen": "3,000"})
    assert editor.errors == []
    session.expire_all()
    saved = session.exec(select(Campaign).where(Campaign.name == "会費の請求")).one()
    assert saved.amount_yen == 3000


async def test_account_error_pause_is_explained_on_the_campaign_page_and_dashboard(app_module, session, two_orgs):
    from smspay_app.i18n import t
    from smspay_app.pages.dashboard import DashboardState
    from smspay_app.services import sending

    campaign = session.get(Campaign, two_orgs["campaign_id"])
    sending.start_sending(session, campaign)
    paused = sending.pause_for_account_error(session, campaign.organisation_id)
    session.commit()
    assert [c.id for c in paused] == [campaign.id]
    explanation = t("sending.paused.account_error", "ja")
    assert "再開" in explanation and "再開" not in t("sending.paused.account_error", "en")
    opened = await open_campaign_page(two_orgs["a"], two_orgs["campaign_id"])
    page = opened.header
    assert (page.status, page.paused_reason_text) == ("paused", explanation)
    dash = _state(DashboardState, two_orgs["a"])
    DashboardState.load.fn(dash)
    assert dash.sending_alert == explanation
    other = _state(DashboardState, two_orgs["b"])
    DashboardState.load.fn(other)
    assert other.sending_alert == ""  # another organisation sees nothing of it

    # Resumed by the operator: the explanation goes, the organisation sends again.
    sending.resume(session, session.get(Campaign, campaign.id))
    session.commit()
    await opened.reopen()
    DashboardState.load.fn(dash)
    assert (page.status, page.paused_reason_text, dash.sending_alert) == ("sending", "", "")
