"""Provider capabilities: each SMS provider says what its route carries
(``providers/sms/base.capabilities_for``); the Replies page and the REST API say
when the organisation's provider carries no replies (Twilio and Japanese
numbers) and why, in Japanese and English."""

from __future__ import annotations

import pytest
import reflex as rx

from smspay_app.i18n import t
from smspay_app.providers.sms.base import capabilities_for
from smspay_app.settings import get_settings
from tests.factories import make_admin, make_key, make_org, signed_in
from tests.helpers import api_client

NOTE = "sms.capability.no_replies.twilio_jp"


def test_twilio_carries_no_replies_for_japanese_numbers():
    japan = capabilities_for("twilio", "JP")
    assert (japan.two_way, japan.delivery_receipts, japan.carrier, japan.lookup) == (False, True, False, True)
    assert japan.two_way_note == NOTE
    assert capabilities_for("twilio", "US").two_way and capabilities_for("twilio", "US").two_way_note == ""
    sim = capabilities_for("simulator", "JP")
    assert sim.two_way and sim.carrier and sim.two_way_note == ""
    assert "Twilio" in t(NOTE, "ja") and "Twilio" in t(NOTE, "en") and t(NOTE, "ja") != t(NOTE, "en")


@pytest.fixture
def on_twilio(settings, monkeypatch):
    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_api_says_replies_do_not_arrive_through_twilio_and_why(live_server, session, on_twilio):
    admin = make_admin(session)
    key = make_key(session, admin, scopes=("read",))
    with api_client(live_server, key, **{"Accept-Language": "en"}) as api:
        body = api.get("/api/v1/sms/capabilities").json()
    assert (body["provider"], body["country"], body["two_way"]) == ("twilio", "JP", False)
    assert body["notes"] == [{"capability": "two_way", "code": NOTE, "message": t(NOTE, "en")}]


def test_api_on_the_simulator_offers_replies(live_server, session):
    key = make_key(session, make_admin(session), scopes=("read",))
    with api_client(live_server, key) as api:
        body = api.get("/api/v1/sms/capabilities").json()
    assert (body["provider"], body["two_way"], body["notes"]) == ("simulator", True, [])
    with live_server.client() as anonymous:
        assert anonymous.get("/api/v1/sms/capabilities").status_code == 401


def _replies_state(token: str):
    import smspay_app.smspay_app  # noqa: F401  (registers the pages)
    from smspay_app.pages.replies import RepliesState

    root = rx.State(_reflex_internal_init=True)
    root.router_data = root._update_router_vars({"query": {}, "pathname": "/replies"}, {})
    state = root.get_substate(RepliesState.get_full_name().split("."))
    state._bind_session(token)
    RepliesState.load.fn(state)
    return state


def test_replies_page_explains_why_no_replies_arrive_through_twilio(session, settings, monkeypatch):
    token, _ = signed_in(session, make_org(session), "operator")
    session.commit()
    assert _replies_state(token).no_replies_note == ""  # the simulator carries replies
    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    get_settings.cache_clear()
    assert _replies_state(token).no_replies_note == t(NOTE, "ja")
