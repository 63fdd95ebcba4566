"""The Twilio adapter (``providers/sms/twilio.py``) against the simulator over
real HTTP: list paging keeps ``next_page_uri``'s query, messages still queued
are listed, a 5xx to a create is an unknown outcome, account-level errors are
marked, lookups go to the Lookup API's own host."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smspay_app.domain.clock import utcnow
from smspay_app.providers.sms.base import SendRequest, SmsError, get_sms_provider
from smspay_app.providers.sms.twilio import TwilioProvider, lookup_base_for
from smspay_app.settings import Settings


def _provider(settings, **kwargs) -> TwilioProvider:
    return TwilioProvider(
        api_base=settings.sms_api_base,
        account_sid=settings.twilio_account_sid,
        auth_token=kwargs.pop("auth_token", settings.twilio_auth_token),
        name="simulator",
        **kwargs,
    )


def _control(live_server, **cfg):
    with live_server.client() as c:
        assert c.post("/sim/twilio/_control", json=cfg).status_code == 200


async def test_list_pages_keep_the_filter_and_page_token(live_server, settings):
    """With 105 messages to one number the second page used to be requested
    without ``To`` and ``PageToken`` (httpx dropped the query of
    ``next_page_uri``): 200 messages came back, some to other numbers."""
    _control(live_server, callbacks=False)
    provider = _provider(settings)
    me, other = "+819011110000", "+819022220000"
    try:
        for i in range(105):
            await provider.send(SendRequest(to=me, sender="SMSPAY", body=f"m{i}"))
            if i % 10 == 0:
                await provider.send(SendRequest(to=other, sender="SMSPAY", body=f"o{i}"))
        listed = await provider.list_messages(me, utcnow() - timedelta(minutes=5), page_size=20)
        assert len(listed) == 105 and {m.to for m in listed} == {me}
        assert len({m.sid for m in listed}) == 105
        assert len(await provider.list_messages(me)) == 105  # no floor: every page
    finally:
        await provider.aclose()


async def test_reconciliation_list_finds_messages_still_queued(live_server, settings):
    """A queued message has no ``date_sent``: a ``DateSent>`` filter leaves it
    out, so the adapter does not use one."""
    _control(live_server, callbacks=False, progress_delay_ms=600_000)
    provider = _provider(settings)
    try:
        start = utcnow()
        sent = await provider.send(SendRequest(to="+819033330000", sender="SMSPAY", body="queued one"))
        listed = await provider.list_messages("+819033330000", start)
        assert [(m.sid, m.status) for m in listed] == [(sent.sid, "queued")]
    finally:
        await provider.aclose()


async def test_a_5xx_to_a_create_is_unknown_and_a_429_transient(live_server, settings):
    provider = _provider(settings)
    try:
        _control(live_server, accept_error_rate=1.0, callbacks=False)
        with pytest.raises(SmsError) as err:
            await provider.send(SendRequest(to="+819044440000", sender="SMSPAY", body="x"))
        assert (err.value.kind, err.value.code, err.value.account_level) == ("unknown", "20500", False)
        _control(live_server, accept_error_rate=0.0, throttle_rate=1.0)
        with pytest.raises(SmsError) as err:
            await provider.send(SendRequest(to="+819044440000", sender="SMSPAY", body="x"))
        assert (err.value.kind, err.value.code) == ("transient", "20429")
    finally:
        await provider.aclose()


async def test_authentication_failure_is_an_account_level_error(live_server, settings):
    provider = _provider(settings, auth_token="rotated-away")
    try:
        with pytest.raises(SmsError) as err:
            await provider.send(SendRequest(to="+819055550000", sender="SMSPAY", body="x"))
        assert (err.value.kind, err.value.code, err.value.http_status) == ("permanent", "20003", 401)
        assert err.value.account_level
    finally:
        await provider.aclose()
    ok = _provider(settings)
    try:
        with pytest.raises(SmsError) as err:
            await ok.send(SendRequest(to="090-bad", sender="SMSPAY", body="x"))
        assert err.value.code == "21211" and not err.value.account_level  # about this message only
    finally:
        await ok.aclose()


def test_lookups_go_to_the_lookup_apis_own_host():
    twilio = get_sms_provider(Settings(sms_provider="twilio", twilio_api_base="https://api.twilio.com"))
    assert (twilio.api_base, twilio.lookup_base) == ("https://api.twilio.com", "https://lookups.twilio.com")
    default = get_sms_provider(Settings(sms_provider="twilio", twilio_api_base=""))
    assert default.lookup_base == "https://lookups.twilio.com"
    # Whatever the provider name, Twilio's API host never serves lookups.
    named = get_sms_provider(Settings(sms_provider="simulator", twilio_api_base="https://api.twilio.com"))
    assert named.lookup_base == "https://lookups.twilio.com"
    assert lookup_base_for("https://api.dublin.ie1.twilio.com") == "https://lookups.dublin.ie1.twilio.com"
    # The simulator (or a proxy) serves both APIs on one base.
    assert lookup_base_for("http://127.0.0.1:8901/sim/twilio/") == "http://127.0.0.1:8901/sim/twilio"
