"""A campaign picks its SMS and payment connections (issue 13 item 3): in the
editor and through the REST API; default the organisation's; only an admin
(or a ``manage`` API key), only an enabled connection of the same
organisation and kind, refused otherwise with a clear message; the opt-out
note and the cost estimate follow the campaign's SMS pick."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from smspay_app.i18n import t
from smspay_app.models import Campaign, Recipient
from smspay_app.services import campaigns, connections, sms_message
from tests.factories import make_caller, make_campaign, make_key, make_org, signed_in
from tests.helpers import api_client, idem
from tests.test_admin_handlers import _state, app_module  # noqa: F401  (fixture)

KARADEN_TOKEN = "karaden-simulator-token"


def _karaden(session, caller, settings):
    return connections.add(
        session,
        caller,
        kind="sms",
        provider="karaden",
        fields={
            "tenant_id": settings.karaden_sim_tenant_id,
            "service_id": str(settings.karaden_sim_service_id),
            "token": settings.karaden_sim_token,
            "api_base": settings.public_base_url + "/sim/karaden",
        },
        label="空電",
    )


def _input(**picks) -> campaigns.CampaignInput:
    return campaigns.CampaignInput(name="4月分", sms_template="{{name}}様 ご請求 {{link}}", amount_yen=1000, **picks)


def test_only_an_admin_picks_only_enabled_connections_of_the_organisation(session, settings):
    org, other = make_org(session), make_org(session, "他社")
    admin, operator = make_caller(session, org, "admin"), make_caller(session, org, "operator")
    simulator = connections.add(session, admin, kind="sms", provider="simulator", fields={})
    karaden = _karaden(session, admin, settings)
    pay = connections.add(session, admin, kind="payment", provider="sandbox", fields={})
    foreign = connections.add(
        session, make_caller(session, other, "admin"), kind="sms", provider="simulator", fields={}
    )
    # the default: nothing picked
    campaign = campaigns.create_campaign(session, operator, _input())
    assert (campaign.sms_connection_id, campaign.payment_connection_id) == (None, None)
    with pytest.raises(campaigns.CampaignInvalid) as refused:
        campaigns.create_campaign(session, operator, _input(sms_connection_id=karaden.connection_id))
    assert [(e.field, e.key) for e in refused.value.errors] == [
        ("sms_connection_id", "connections.error.pick_admin_only")
    ]
    for wrong in (foreign.connection_id, pay.connection_id, 999_999):
        with pytest.raises(campaigns.CampaignInvalid) as refused:
            campaigns.create_campaign(session, admin, _input(sms_connection_id=wrong))
        assert [(e.field, e.key) for e in refused.value.errors] == [
            ("sms_connection_id", "connections.error.not_found")
        ]
    with pytest.raises(campaigns.CampaignInvalid) as refused:
        campaigns.create_campaign(session, admin, _input(payment_connection_id=simulator.connection_id))
    assert refused.value.errors[0].field == "payment_connection_id"
    picked = campaigns.create_campaign(
        session, admin, _input(sms_connection_id=karaden.connection_id, payment_connection_id=pay.connection_id)
    )
    assert (picked.sms_connection_id, picked.payment_connection_id) == (karaden.connection_id, pay.connection_id)
    assert connections.sms_route(session, campaign=picked).provider == "karaden"
    assert connections.payment_route(session, picked).connection_id == pay.connection_id
    # a disabled connection cannot be picked anew, but a campaign keeps saving with the pick it had
    connections.disable(session, admin, simulator.connection_id)
    with pytest.raises(campaigns.CampaignInvalid) as refused:
        campaigns.update_campaign(session, admin, campaign.id, _input(sms_connection_id=simulator.connection_id))
    assert refused.value.errors[0].key == "connections.error.disabled"
    connections.disable(session, admin, karaden.connection_id)
    data = campaigns.campaign_input(session, picked)
    assert data.sms_connection_id == karaden.connection_id
    campaigns.update_campaign(session, operator, picked.id, data)  # unchanged picks: anyone who may edit
    assert t("connections.error.pick_admin_only", "en") and t("connections.error.pick_admin_only", "ja")


def test_the_opt_out_note_and_the_estimate_follow_the_campaigns_sms_pick(session, settings):
    org = make_org(session)
    admin = make_caller(session, org, "admin")
    connections.add(session, admin, kind="sms", provider="simulator", fields={})  # the default carries replies
    karaden = _karaden(session, admin, settings)
    campaign = make_campaign(session, org, recipients=1)
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).first()
    note = "\n" + t("recipient.optout_sms_note", "ja")
    plain = sms_message.render_for_recipient(campaign, org, recipient, "https://x.example/l/abc")
    before = sms_message.estimate_campaign_sms(session, campaign)
    assert not plain.endswith(note)
    campaign.sms_connection_id = karaden.connection_id  # Karaden carries no replies
    picked = sms_message.render_for_recipient(campaign, org, recipient, "https://x.example/l/abc")
    after = sms_message.estimate_campaign_sms(session, campaign)
    assert picked == plain + note
    assert after.worst.chars == before.worst.chars + len(note)
    assert sms_message.opt_out_note(org) == ""  # the organisation's default still carries replies


def test_the_editor_offers_the_pickers_to_admins_and_saves_the_pick(app_module, session, settings):  # noqa: F811
    from smspay_app.pages.campaigns import CampaignEditorState

    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    admin = make_caller(session, org, "admin", email="picker-admin@example.com")
    connections.add(session, admin, kind="sms", provider="simulator", fields={})
    karaden = _karaden(session, admin, settings)
    pay = connections.add(
        session, admin, kind="payment", provider="sandbox", fields={"secret_key": "sk_test_" + "p" * 20}
    )
    session.commit()
    editor = _state(CampaignEditorState, token)
    CampaignEditorState.start.fn(editor)
    assert editor.can_pick
    assert [c["id"] for c in editor.sms_choices] == [str(karaden.connection_id - 1), str(karaden.connection_id)]
    assert [c["id"] for c in editor.payment_choices] == [str(pay.connection_id)]
    assert "sk_test_" not in json.dumps(editor.dict(), default=str) and KARADEN_TOKEN not in json.dumps(
        editor.dict(), default=str
    )
    note = t("recipient.optout_sms_note", "ja")
    assert note not in editor.sms_preview
    CampaignEditorState.set_pick.fn(editor, "sms", str(karaden.connection_id))
    assert note in editor.sms_preview  # the preview follows the pick before it is saved
    CampaignEditorState.set_pick.fn(editor, "payment", "12345")  # not a choice: ignored
    assert editor.payment_pick == "default"
    CampaignEditorState.set_pick.fn(editor, "payment", str(pay.connection_id))
    CampaignEditorState.submit.fn(editor, {"name": "経路指定", "amount_yen": "1000"})
    assert editor.errors == []
    session.expire_all()
    saved = session.exec(select(Campaign).where(Campaign.name == "経路指定")).one()
    assert (saved.sms_connection_id, saved.payment_connection_id) == (karaden.connection_id, pay.connection_id)
    # an operator sees no pickers (and a forged pick is refused on save)
    op_token, _ = signed_in(session, org, "operator")
    op_editor = _state(CampaignEditorState, op_token)
    CampaignEditorState.start.fn(op_editor)
    assert not op_editor.can_pick and op_editor.sms_choices == []
    op_editor.sms_pick = str(karaden.connection_id)
    CampaignEditorState.submit.fn(op_editor, {"name": "偽装", "amount_yen": "1000"})
    assert op_editor.errors == [t("connections.error.pick_admin_only", "ja")]


def test_the_api_picks_connections_and_lists_them_without_credentials(live_server, session, settings):
    org, other = make_org(session), make_org(session, "他社")
    admin = make_caller(session, org, "admin")
    karaden = _karaden(session, admin, settings)
    pay = connections.add(
        session, admin, kind="payment", provider="stripe", fields={"secret_key": "sk_test_" + "z" * 20}
    )
    foreign = connections.add(
        session, make_caller(session, other, "admin"), kind="payment", provider="sandbox", fields={}
    )
    session.commit()
    key = make_key(session, admin)
    body = {"name": "API経路", "sms_template": "{{name}}様 {{link}}", "amount_yen": 1000}
    with api_client(live_server, key) as api:
        listed = api.get("/api/v1/connections")
        assert listed.status_code == 200
        assert {(c["id"], c["kind"], c["provider"]) for c in listed.json()["data"]} == {
            (karaden.connection_id, "sms", "karaden"),
            (pay.connection_id, "payment", "stripe"),
        }
        assert "sk_test_" not in listed.text and KARADEN_TOKEN not in listed.text
        made = api.post(
            "/api/v1/campaigns",
            json={**body, "sms_connection_id": karaden.connection_id, "payment_connection_id": pay.connection_id},
            headers=idem(),
        )
        assert made.status_code == 201, made.text
        assert (made.json()["sms_connection_id"], made.json()["payment_connection_id"]) == (
            karaden.connection_id,
            pay.connection_id,
        )
        plain = api.post("/api/v1/campaigns", json=body, headers=idem())
        assert (plain.json()["sms_connection_id"], plain.json()["payment_connection_id"]) == (None, None)
        refused = api.post(
            "/api/v1/campaigns",
            json={**body, "payment_connection_id": foreign.connection_id},
            headers={**idem(), "Accept-Language": "en"},
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["details"] == [
            {
                "field": "payment_connection_id",
                "code": "connections.error.not_found",
                "message": t("connections.error.not_found", "en"),
            }
        ]
