"""Settings → Connections handlers called directly, as a forged client would:
only admins of the organisation manage its connections; the credentials an
admin types never enter the Reflex state (only the last four characters);
test connection gives a clear result."""

from __future__ import annotations

import json

import pytest
import reflex as rx
from sqlmodel import select

from smspay_app.models import AuditLog, Connection
from tests.factories import make_org, signed_in

TOKEN = "karaden-simulator-token"  # the mounted simulator's (settings.karaden_sim_token)


@pytest.fixture
def page(settings):
    import smspay_app.smspay_app  # noqa: F401  registers the pages
    from smspay_app.pages import connections

    return connections


def _state(state_cls, token: str):
    root = rx.State(_reflex_internal_init=True)
    st = root.get_substate(state_cls.get_full_name().split("."))
    st._bind_session(token)
    return st


def _form(settings, token=TOKEN):
    return {
        "label": "空電",
        "tenant_id": settings.karaden_sim_tenant_id,
        "service_id": str(settings.karaden_sim_service_id),
        "token": token,
        "api_base": settings.public_base_url + "/sim/karaden",
    }


@pytest.mark.parametrize("role", ["operator", "support", None])
def test_non_admins_cannot_see_or_add_connections(session, page, settings, role):
    org = make_org(session)
    token = signed_in(session, org, role)[0] if role else "forged-token"
    st = _state(page.ConnectionsState, token)
    page.ConnectionsState.load.fn(st)
    assert st.rows == [] and not st.loaded
    page.ConnectionsState.choose_provider.fn(st, "karaden")
    page.ConnectionsState.add.fn(st, _form(settings))
    assert session.exec(select(Connection)).all() == []


async def test_admin_adds_tests_defaults_and_disables_without_secrets_in_state(live_server, session, page, settings):
    org, other = make_org(session), make_org(session, "他社")
    token, _ = signed_in(session, org, "admin")
    st = _state(page.ConnectionsState, token)
    page.ConnectionsState.load.fn(st)
    page.ConnectionsState.choose_provider.fn(st, "karaden")
    assert [f["name"] for f in st.fields] == ["tenant_id", "service_id", "token", "api_base"]
    page.ConnectionsState.add.fn(st, {**_form(settings), "tenant_id": ""})
    assert st.error_keys == {"tenant_id": "connections.error.required"} and not st.message_ok
    page.ConnectionsState.add.fn(st, _form(settings))
    page.ConnectionsState.add.fn(st, _form(settings, token="wrong-token-9999"))
    assert st.msg_key == "connections.added" and len(st.rows) == 2
    good, bad = st.rows
    assert good["default"] == "1" and good["hint"].endswith(TOKEN[-4:]) and good["cap_carrier"] == "1"
    assert good["cap_replies"] == "" and good["note"] == "sms.capability.no_replies.karaden"
    # Karaden posts its results (SMS送達結果通知) to the URL entered in its service settings
    public_id = session.get(Connection, int(good["id"])).public_id
    assert good["callback"] == f"{settings.public_base_url}/webhooks/sms/{public_id}/result"
    # No credential anywhere in the state the browser gets.
    assert TOKEN not in json.dumps(st.dict(), default=str)
    await page.ConnectionsState.test.fn(st, good["id"])
    assert (st.msg_key, st.message_ok) == ("connections.test.ok", True)
    await page.ConnectionsState.test.fn(st, bad["id"])
    assert (st.msg_key, st.message_ok) == ("connections.test.bad_credentials", False)
    page.ConnectionsState.make_default.fn(st, bad["id"])
    assert [r["default"] for r in st.rows] == ["", "1"]
    page.ConnectionsState.disable.fn(st, bad["id"])
    assert [r["disabled"] for r in st.rows] == ["", "1"]
    assert "wrong-token-9999" not in json.dumps(st.dict(), default=str)
    # An admin of another organisation sees none of it and changes nothing.
    token_b, _ = signed_in(session, other, "admin")
    sb = _state(page.ConnectionsState, token_b)
    page.ConnectionsState.load.fn(sb)
    assert sb.rows == []
    page.ConnectionsState.disable.fn(sb, good["id"])
    assert not sb.message_ok
    session.expire_all()
    assert session.get(Connection, int(good["id"])).disabled_at is None
    audit = session.exec(select(AuditLog).where(AuditLog.action.like("connection.%"))).all()
    assert {a.action for a in audit} == {
        "connection.add",
        "connection.test",
        "connection.default",
        "connection.disable",
    }
    assert all(TOKEN not in a.detail and "wrong-token" not in a.detail for a in audit)


async def test_a_payment_connection_shows_its_own_webhook_url_and_tests_its_key(live_server, session, page, settings):
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    st = _state(page.ConnectionsState, token)
    page.ConnectionsState.load.fn(st)
    page.ConnectionsState.choose_provider.fn(st, "sandbox")
    assert [f["name"] for f in st.fields] == ["secret_key", "webhook_secret", "api_base"]
    page.ConnectionsState.add.fn(st, {"label": "sandbox", "secret_key": "", "webhook_secret": "", "api_base": ""})
    # A key this server's own mounted sandbox was told nothing about: the same
    # sandbox at another address (a connection to the mounted one registers
    # its key there, services.connections.register_with_mounted_sandbox).
    elsewhere = settings.public_base_url.replace("127.0.0.1", "localhost") + "/sim/stripe"
    page.ConnectionsState.add.fn(st, {"label": "wrong", "secret_key": "sk_test_wrong_key_7777", "api_base": elsewhere})
    good, bad = st.rows
    public_id = session.get(Connection, int(good["id"])).public_id
    assert good["webhook"] == f"{settings.public_base_url}/webhooks/payments/{public_id}"
    assert good["callback"] == ""
    await page.ConnectionsState.test.fn(st, good["id"])
    assert (st.msg_key, st.message_ok) == ("connections.test.ok", True)
    await page.ConnectionsState.test.fn(st, bad["id"])
    assert (st.msg_key, st.message_ok) == ("connections.test.bad_credentials", False)
    assert "sk_test_wrong_key_7777" not in json.dumps(st.dict(), default=str)
    from smspay_app.i18n import t

    assert "Webhook" in t("connections.payment_webhook", "ja") and "webhook" in t("connections.payment_webhook", "en")


async def test_a_payment_connections_generated_webhook_secret_is_shown_once(live_server, session, page, settings):
    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    st = _state(page.ConnectionsState, token)
    page.ConnectionsState.load.fn(st)
    page.ConnectionsState.choose_provider.fn(st, "sandbox")
    page.ConnectionsState.add.fn(st, {"label": "own", "secret_key": "sk_test_own_key_12345678", "api_base": ""})
    shown = st.new_webhook_secret
    assert shown.startswith("whsec_")
    from smspay_app.services import connections

    row = session.exec(select(Connection)).one()
    assert connections.payment_spec_of(row).webhook_secret == shown  # what its webhooks are verified with
    assert "new_webhook_secret" in page.ConnectionsState.ONE_TIME
    page.ConnectionsState.load.fn(st)
    assert st.new_webhook_secret == ""
    # typed by the admin (Stripe shows its own): nothing to show
    page.ConnectionsState.add.fn(
        st,
        {"label": "typed", "secret_key": "sk_test_typed_12345678", "webhook_secret": "whsec_typed_1", "api_base": ""},
    )
    assert st.new_webhook_secret == ""


def test_the_komoju_form_offers_the_embedded_sandbox_in_demo_mode(session, page, settings):
    from smspay_app.i18n import t

    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    st = _state(page.ConnectionsState, token)
    page.ConnectionsState.load.fn(st)
    page.ConnectionsState.choose_provider.fn(st, "komoju")
    hints = {f["name"]: f["hint"] for f in st.fields}
    assert hints == {
        "secret_key": "",
        "webhook_secret": "",
        "api_base": f"{settings.public_base_url}/sim/komoju/api/v1",
    }
    page.ConnectionsState.choose_provider.fn(st, "stripe")
    assert all(f["hint"] == "" for f in st.fields)
    assert "KOMOJU" in t("connections.hint.mounted_sandbox", "ja") and "KOMOJU" in t(
        "connections.hint.mounted_sandbox", "en"
    )
