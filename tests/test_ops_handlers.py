"""The Reflex event handlers themselves, called directly as a client could
call them with any arguments: a support user is refused the admin/operator
handlers (create and send campaigns, export), another organisation's user gets
nothing of ours, and nothing changes in the database."""

from __future__ import annotations

import reflex as rx
from sqlmodel import select

from smspay_app.models import AuditLog, Campaign, Link, OptOut, SendAttempt
from smspay_app.pages.campaigns import CampaignDetailState, CampaignEditorState
from smspay_app.pages.optouts import OptOutsState
from smspay_app.pages.recipients import RecipientDetailState, RecipientsState
from tests.factories import make_caller, make_journey, make_org, sign_in_token


def _state(cls, token: str, **router_args):
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(cls.get_full_name().split("."))
    state._bind_session(token)
    # The dynamic route argument (e.g. "/recipients/[recipient_id]"), as the router would set it.
    state.__dict__.update(router_args)
    return state


def _counts(session):
    session.expire_all()
    return (
        len(session.exec(select(Campaign)).all()),
        len(session.exec(select(SendAttempt)).all()),
        len(session.exec(select(AuditLog).where(AuditLog.action != "auth.sign_in")).all()),
        len(session.exec(select(OptOut)).all()),
        [l.revoked_at for l in session.exec(select(Link))],
    )


def test_support_user_is_refused_campaign_creation_and_sending(session):
    from smspay_app.models import Organisation

    j = make_journey(session)
    org = session.get(Organisation, j.organisation_id)
    draft = Campaign(organisation_id=org.id, name="下書き", sms_template="{{link}}")
    session.add(draft)
    session.commit()
    support_user = make_caller(session, org, "support")
    token = sign_in_token(session, support_user.email)
    before = _counts(session)

    editor = _state(CampaignEditorState, token)
    assert CampaignEditorState.start.fn(editor) is not None  # redirected away
    CampaignEditorState.submit.fn(editor, {"name": "不正", "amount_yen": "1000"})
    assert editor.errors == ["この操作を行う権限がありません。"]

    detail = _state(CampaignDetailState, token, campaign_id=str(draft.id))
    CampaignDetailState.send.fn(detail)
    assert detail.action_message == "この操作を行う権限がありません。"
    assert session.get(Campaign, draft.id).status == "draft"
    assert _counts(session) == before


def test_other_organisation_gets_nothing_and_changes_nothing(session):
    j = make_journey(session)
    outsider = make_caller(session, make_org(session, "他社"), "admin", "outsider@example.com")
    token = sign_in_token(session, outsider.email)
    before = _counts(session)

    detail = _state(RecipientDetailState, token, recipient_id=str(j.recipient_id))
    RecipientDetailState.load.fn(detail)
    assert detail.found is False and detail.info == {} and detail.events == []
    for action in ("reissue", "cancel", "mark_paid", "unlock"):
        detail.dialog_action = action
        RecipientDetailState.submit_action.fn(detail, {"reason": "他社からの操作", "hours": "24"})
        assert detail.dialog_error == "見つかりません。"

    listing = _state(RecipientsState, token)
    listing.campaign_filter = str(j.campaign_id)
    listing._refresh(listing._caller("campaign.view"))
    assert listing.rows == [] and listing.total == 0
    assert _counts(session) == before


def test_signed_out_or_forged_token_is_refused(session):
    j = make_journey(session)
    before = _counts(session)
    for token in ("", "forged-token"):
        detail = _state(RecipientDetailState, token, recipient_id=str(j.recipient_id))
        detail.dialog_action = "reissue"
        RecipientDetailState.submit_action.fn(detail, {"reason": "なりすまし"})
        assert detail.dialog_error == "この操作を行う権限がありません。"
        optout_state = _state(OptOutsState, token)
        OptOutsState.add.fn(optout_state, {"phone": "09012345678", "reason": "x"})
        assert optout_state.ok is False
    assert _counts(session) == before


def test_support_user_can_reissue_through_the_handler(session):
    from smspay_app.models import Organisation

    j = make_journey(session)
    support_user = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    detail = _state(RecipientDetailState, sign_in_token(session, support_user.email), recipient_id=str(j.recipient_id))
    RecipientDetailState.open_action.fn(detail, "reissue")
    assert detail.dialog_open
    RecipientDetailState.submit_action.fn(detail, {"reason": ""})
    assert detail.dialog_error.startswith("理由を入力")
    RecipientDetailState.submit_action.fn(detail, {"reason": "期限切れの連絡あり"})
    assert detail.dialog_error == "" and not detail.dialog_open
    session.expire_all()
    assert session.exec(select(SendAttempt)).one().kind == "reissue"
    assert [e["kind"] for e in detail.events][0] == "staff_reissue"
    assert detail.audits[0]["reason"] == "期限切れの連絡あり"


def test_after_resend_the_old_link_shows_as_revoked_without_reload(session):
    import asyncio

    from smspay_app.models import Organisation
    from smspay_app.worker import run_dispatcher_once

    j = make_journey(session)
    support_user = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    session.commit()
    detail = _state(RecipientDetailState, sign_in_token(session, support_user.email), recipient_id=str(j.recipient_id))
    RecipientDetailState.load.fn(detail)
    assert [l["state"] for l in detail.links] == ["live"]
    RecipientDetailState.open_action.fn(detail, "resend")
    RecipientDetailState.submit_action.fn(detail, {"reason": "SMSが届かないとの連絡"})
    assert detail.dialog_error == "" and not detail.dialog_open
    asyncio.run(run_dispatcher_once())  # the new SMS goes out with a fresh link
    RecipientDetailState.tick.fn(detail)  # the page's periodic refresh, no reload
    assert [l["state"] for l in detail.links] == ["live", "revoked"]
    assert detail.links[1]["revoked"] != ""


def test_recipient_search_has_a_clear_button(session):
    from smspay_app.models import Organisation

    j = make_journey(session)
    support_user = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    session.commit()
    listing = _state(RecipientsState, sign_in_token(session, support_user.email))
    RecipientsState.search.fn(listing, {"q": "存在しない人"})
    assert listing.q == "存在しない人" and listing.total == 0
    events = RecipientsState.clear_search.fn(listing)
    assert listing.q == "" and listing.total == 1 and listing.page == 0
    assert any("ref_recipient_search" in repr(e) for e in events)  # the (uncontrolled) box is emptied too
