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

from smspay_app.models import Campaign, Recipient, SendAttempt
from smspay_app.services import campaigns
from tests.factories import make_org, signed_in


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
    state.session_token = token
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


def test_other_organisation_cannot_read_campaign(app_module, session, two_orgs):
    from smspay_app.pages.campaigns import CampaignDetailState

    state = _state(CampaignDetailState, two_orgs["b"], two_orgs["campaign_id"])
    CampaignDetailState.load.fn(state)
    assert state.found is False
    assert state.name == "" and state.recipients == [] and state.counts == {}

    own = _state(CampaignDetailState, two_orgs["a"], two_orgs["campaign_id"])
    CampaignDetailState.load.fn(own)
    assert own.found is True and own.name == "A社の請求" and len(own.recipients) == 1


def test_other_organisation_cannot_send(app_module, session, two_orgs):
    from smspay_app.pages.campaigns import CampaignDetailState

    before = _snapshot(session, two_orgs["campaign_id"])
    state = _state(CampaignDetailState, two_orgs["b"], two_orgs["campaign_id"])
    CampaignDetailState.send.fn(state)
    assert _snapshot(session, two_orgs["campaign_id"]) == before == ("draft", 1, 0)
    assert state.action_message  # told why


@pytest.mark.parametrize("who", ["b", "support_a", "signed_out"])
async def test_upload_refused_for_wrong_org_role_or_no_session(app_module, session, two_orgs, who):
    from smspay_app.pages.campaigns import CampaignDetailState

    token = "" if who == "signed_out" else two_orgs[who]
    before = _snapshot(session, two_orgs["campaign_id"])
    state = _state(CampaignDetailState, token, two_orgs["campaign_id"])
    csv = "電話番号,氏名\n08011112222,侵入 者\n".encode()
    upload = rx.UploadFile(file=io.BytesIO(csv), path=Path("x.csv"), size=len(csv))
    result = CampaignDetailState.handle_upload.fn(state, [upload])
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
    from smspay_app.pages.state import AppState

    state = _state(AppState, "forged-token")
    result = AppState.guard.fn(state)
    assert result is not None and "/login" in str(result)
    assert state.user_name == ""
