"""Issue 18 item 11 (Low): "A closed tab's server-side state can be opened
with its client token ... including a one-time API key secret. One-time
secrets must leave state once shown, and state must be bound to the signed-in
session."

Reflex keeps each tab's state on the server under the client token; a hydrate
(page load, reconnect) resets the cookies, applies the ones the browser sends,
and sends the whole state. These tests run those same steps on the real state
tree (``_reset_client_storage``, Reflex's ``_apply_client_storage_vars``,
``dict``) with the handlers called as the browser would."""

from __future__ import annotations

import asyncio

import pytest
import reflex as rx
from reflex.state import _apply_client_storage_vars

from smspay_app.services.auth import session_ref
from smspay_app.web.session_cookie import SESSION_COOKIE, rewrite_cookie_header
from tests.factories import make_org, signed_in


@pytest.fixture
def app_module(settings):
    import smspay_app.smspay_app as module  # registers the pages

    return module


def _on_socket(root, sid: str) -> None:
    """The next event arrives on Socket.IO connection ``sid``."""
    root.router_data = root._update_router_vars({"sid": sid, "token": "client-token-1"}, root.router_data or {})


def _tab(state_cls, token: str, sid: str = ""):
    root = rx.State(_reflex_internal_init=True)
    if sid:
        _on_socket(root, sid)
    state = root.get_substate(state_cls.get_full_name().split("."))
    state._bind_session(token)
    return root, state


def _hydrate(root, cookie: str | None) -> str:
    """What a browser presenting this tab's client token receives: the
    hydrate's snapshot, with ``cookie`` as its session cookie (None: none),
    as Reflex sees it behind ``web.session_cookie.SessionRef``."""
    header = rewrite_cookie_header("" if cookie is None else f"{SESSION_COOKIE}={cookie}")
    root.router_data = root._update_router_vars({"headers": {"cookie": header}}, root.router_data or {})
    root._reset_client_storage()
    asyncio.run(_apply_client_storage_vars(root, {}))
    return repr(root.dict())


def _key_form():
    return {"name": "会計システム", "scope_read": "on", "allowlist": ""}


def test_closed_tab_state_opened_without_the_session_cookie_gets_nothing(app_module, session):
    """A closed tab's server-side state can be opened with its client token:
    a browser with no cookie presenting it gets neither the one-time API key
    secret nor the page's data nor the session."""
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    session.commit()
    root, state = _tab(DevelopersState, token)
    DevelopersState.load.fn(state)
    DevelopersState.create_key.fn(state, _key_form())
    secret = state.secret_value
    assert secret and state.keys  # shown to the tab that made it

    seen = _hydrate(root, cookie=None)
    assert secret not in seen
    assert "会計システム" not in seen  # the key list of the signed-in page
    assert token not in seen
    assert state._session_ref == "" and state.keys == [] and state.user_name == ""
    # and its handlers refuse: the state is no longer the session's
    assert DevelopersState.create_key.fn(state, _key_form()) is not None
    assert state.secret_value == ""


def test_closed_tab_state_opened_with_another_users_cookie_gets_nothing(app_module, session):
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    other, _ = signed_in(session, make_org(session, "B社"), "admin")
    session.commit()
    root, state = _tab(DevelopersState, token)
    DevelopersState.load.fn(state)
    DevelopersState.create_key.fn(state, _key_form())
    secret = state.secret_value

    seen = _hydrate(root, cookie=other)
    assert secret not in seen and "会計システム" not in seen and token not in seen
    assert state._session_ref == session_ref(other) and state.keys == []


def test_one_time_secret_leaves_state_once_shown_even_for_the_same_session(app_module, session):
    """One-time secrets must leave state once shown: a reload of the same
    signed-in tab keeps the page but not the API key secret."""
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    session.commit()
    root, state = _tab(DevelopersState, token)
    DevelopersState.load.fn(state)
    DevelopersState.create_key.fn(state, _key_form())
    secret = state.secret_value

    seen = _hydrate(root, cookie=token)
    assert secret not in seen and state.secret_value == "" and state.secret_open is False
    assert state._session_ref == session_ref(token) and state.keys  # still signed in, page kept


def test_recovery_codes_and_totp_secret_leave_state_once_shown(app_module, session):
    """Recovery codes and the TOTP set-up secret on the account page are one-time secrets too."""
    from smspay_app.pages.account import AccountState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    session.commit()
    root, state = _tab(AccountState, token)
    AccountState.load.fn(state)
    AccountState.start_totp.fn(state)
    enrol_secret = state.enrol_secret
    assert enrol_secret

    seen = _hydrate(root, cookie=token)
    assert enrol_secret not in seen and state.enrol_secret == "" and state.enrol_qr == ""
    assert state._session_ref == session_ref(token)


def test_login_reload_restarts_a_pending_sign_in(app_module, session):
    """A pending sign-in's recovery codes are not handed to a browser that
    opens the tab's state again (its challenge is in an HttpOnly cookie, not
    in the state)."""
    from smspay_app.state import LoginState

    root, state = _tab(LoginState, "")
    state.step, state.recovery_codes = "codes", ["AAAA-BBBB"]
    seen = _hydrate(root, cookie=None)
    assert "AAAA-BBBB" not in seen
    assert state.step == "password" and state.recovery_codes == []


def test_closed_tab_client_token_replayed_on_another_connection_without_hydrate_is_refused(app_module, session):
    """A closed tab's client token presented by a client that skips the
    hydrate and sends events straight away: the state still holds the
    session token, but it was presented on another connection, so every
    handler refuses (no new API key, no secret)."""
    from smspay_app.models import ApiKey
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    session.commit()
    root, state = _tab(DevelopersState, token, sid="sid-victim")
    _hydrate(root, cookie=token)  # the signed-in tab, bound to its connection
    DevelopersState.load.fn(state)
    assert state.keys == []

    _on_socket(root, "sid-attacker")
    DevelopersState.create_key.fn(state, _key_form())
    assert state.secret_value == ""
    session.expire_all()
    from sqlmodel import select

    assert session.exec(select(ApiKey)).all() == []

    # the tab itself, back on its own connection, still works
    _on_socket(root, "sid-victim")
    DevelopersState.create_key.fn(state, _key_form())
    assert state.secret_value


def test_reconnect_of_the_signed_in_browser_rebinds_at_hydrate(app_module, session):
    from smspay_app.pages.developers import DevelopersState

    org = make_org(session, "A社")
    token, _ = signed_in(session, org, "admin")
    session.commit()
    root, state = _tab(DevelopersState, token, sid="sid-1")
    _hydrate(root, cookie=token)
    _on_socket(root, "sid-2")  # the websocket reconnected: its first event is the hydrate
    _hydrate(root, cookie=token)
    DevelopersState.create_key.fn(state, _key_form())
    assert state.secret_value and state._session_ref == session_ref(token)
