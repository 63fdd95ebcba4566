"""Contract tests: Karaden's official Python SDK (``karaden-prg-python`` 1.2.1)
is the oracle.

The SDK (its own ``RequestsRequestor``, per-request ``RequestOptions`` with
``api_base`` pointed at the simulator mounted in the live server at
``/sim/karaden``) drives the Karaden-compatible simulator over real HTTP
through ``Message.create`` / ``detail`` / ``list`` / ``cancel`` and every error
class the product maps (bad request, unauthorized, forbidden, not found,
unprocessable entity, too many requests). The production adapter
(``providers.sms.karaden.KaradenProvider``) then talks to the same simulator
and must read what the SDK reads, and map each error to the right
``SmsError`` kind."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from karaden.exception.bad_request_exception import BadRequestException
from karaden.exception.forbidden_exception import ForbiddenException
from karaden.exception.not_found_exception import NotFoundException
from karaden.exception.too_many_requests_exception import TooManyRequestsException
from karaden.exception.unauthorized_exception import UnauthorizedException
from karaden.exception.unprocessable_entity_exception import UnprocessableEntityException
from karaden.model.message import Message
from karaden.param.message_cancel_params import MessageCancelParams
from karaden.param.message_create_params import MessageCreateParams
from karaden.param.message_detail_params import MessageDetailParams
from karaden.param.message_list_params import MessageListParams
from karaden.request_options import RequestOptions

from smspay_app.providers.sms.base import SendRequest, SmsError
from smspay_app.providers.sms.karaden import KaradenProvider, domestic

PHONE = "+819012345678"


def _options(settings, *, token=None, tenant=None) -> RequestOptions:
    return (
        RequestOptions.new_builder()
        .with_api_base(settings.public_base_url + "/sim/karaden")
        .with_api_key(token or settings.karaden_sim_token)
        .with_tenant_id(tenant or settings.karaden_sim_tenant_id)
        .with_api_version("2024-03-01")
        .with_connection_timeout(5)
        .with_read_timeout(5)
        .build()
    )


def _control(settings, **cfg):
    r = httpx.post(settings.public_base_url + "/sim/karaden/_control", json=cfg, timeout=5)
    assert r.status_code == 200


def _create(settings, body="本文 https://example.com/l/abc", tags=None, **extra):
    builder = (
        MessageCreateParams.new_builder()
        .with_service_id(settings.karaden_sim_service_id)
        .with_to(domestic(PHONE))
        .with_body(body)
        .with_tags(tags or ["key-1"])
        .with_is_shorten(False)
    )
    if "limited_at" in extra:
        builder = builder.with_limited_at(extra["limited_at"])
    if "scheduled_at" in extra:
        builder = builder.with_scheduled_at(extra["scheduled_at"])
    return Message.create(builder.build(), _options(settings, **extra.get("opts", {})))


def _provider(settings, **overrides) -> KaradenProvider:
    values = {
        "tenant_id": settings.karaden_sim_tenant_id,
        "token": settings.karaden_sim_token,
        "service_id": settings.karaden_sim_service_id,
        "api_base": settings.public_base_url + "/sim/karaden",
    }
    values.update(overrides)
    return KaradenProvider(**values)


def test_sdk_create_detail_list_and_cancel(live_server, settings):
    limited = datetime.fromisoformat("2030-01-31T21:00:00+09:00")
    created = _create(settings, tags=["key-a"], limited_at=limited)
    assert created.object == "message" and created.to == "09012345678" and created.tags == ["key-a"]
    assert created.service_id == settings.karaden_sim_service_id
    assert created.limited_at == limited
    assert created.status in ("processing", "done")
    shown = Message.detail(MessageDetailParams.new_builder().with_id(created.id).build(), _options(settings))
    assert shown.id == created.id and shown.status == "done" and shown.result == "done"
    assert shown.sent_result == "received" and shown.carrier in ("docomo", "au", "SoftBank", "Rakuten")
    assert shown.sent_at and shown.received_at
    assert shown.get_property("charged_count_per_sent") == 1
    _create(settings, tags=["key-b"])
    listed = Message.list(
        MessageListParams.new_builder().with_to("09012345678").with_tag("key-a").with_per_page(10).build(),
        _options(settings),
    )
    assert listed.object == "list" and [m.id for m in listed.data] == [created.id] and listed.has_more is False
    # Cancel: only what has not gone out yet.
    _control(settings, progress_delay_ms=60_000)
    later = _create(settings, tags=["key-c"], scheduled_at=datetime.fromisoformat("2030-02-01T10:00:00+09:00"))
    cancelled = Message.cancel(MessageCancelParams.new_builder().with_id(later.id).build(), _options(settings))
    assert cancelled.result == "cancel"
    _control(settings, progress_delay_ms=0)
    with pytest.raises(UnprocessableEntityException):
        Message.cancel(MessageCancelParams.new_builder().with_id(created.id).build(), _options(settings))


def test_sdk_errors_map_to_its_exception_classes(live_server, settings):
    with pytest.raises(UnauthorizedException):
        _create(settings, opts={"token": "wrong"})
    with pytest.raises(ForbiddenException):
        _create(settings, opts={"tenant": "00000000-0000-4000-8000-000000000000"})
    with pytest.raises(NotFoundException):
        Message.detail(MessageDetailParams.new_builder().with_id("no-such-id").build(), _options(settings))
    with pytest.raises(UnprocessableEntityException):
        _create(settings, body="あ" * 671)
    with pytest.raises(BadRequestException):
        Message.list(MessageListParams.new_builder().with_page("x").build(), _options(settings))  # type: ignore[arg-type]
    _control(settings, throttle_rate=1.0)
    try:
        with pytest.raises(TooManyRequestsException):
            _create(settings)
    finally:
        _control(settings, throttle_rate=0.0)


async def test_adapter_reads_what_the_sdk_reads(live_server, settings):
    provider = _provider(settings)
    try:
        sent = await provider.send(
            SendRequest(
                to=PHONE,
                sender="",
                body="ご請求 https://example.com/l/xyz",
                reference="attempt-key-1",
                limited_at=datetime(2030, 1, 31, 12, 0),
            )
        )
        sdk = Message.detail(MessageDetailParams.new_builder().with_id(sent.sid).build(), _options(settings))
        assert sdk.tags == ["attempt-key-1"] and sdk.body == "ご請求 https://example.com/l/xyz"
        assert sdk.limited_at == datetime.fromisoformat("2030-01-31T21:00:00+09:00")
        assert sdk.get_property("is_shorten") is False
        fetched = await provider.fetch(sent.sid)
        assert fetched.status == "delivered" and fetched.to == PHONE and fetched.carrier == sdk.carrier
        assert fetched.num_segments == 1
        listed = await provider.list_messages(PHONE, datetime.utcnow() - timedelta(hours=1))
        assert [m.sid for m in listed if "attempt-key-1" in m.tags] == [sent.sid]
        _control(settings, fail_rate=1.0)
        failed = await provider.send(SendRequest(to=PHONE, sender="", body="x", reference="k2"))
        assert (await provider.fetch(failed.sid)).status == "undelivered"
    finally:
        _control(settings, fail_rate=0.0)
        await provider.aclose()


@pytest.mark.parametrize(
    ("overrides", "control", "kind", "account_level"),
    [
        ({"token": "wrong"}, {}, "permanent", True),
        ({"tenant_id": "00000000-0000-4000-8000-000000000000"}, {}, "permanent", True),
        ({}, {"throttle_rate": 1.0}, "transient", False),
        ({}, {"error_rate": 1.0}, "unknown", False),
        ({}, {"accept_error_rate": 1.0}, "unknown", False),
    ],
)
async def test_adapter_error_kinds(live_server, settings, overrides, control, kind, account_level):
    provider = _provider(settings, **overrides)
    _control(settings, **control)
    try:
        with pytest.raises(SmsError) as raised:
            await provider.send(SendRequest(to=PHONE, sender="", body="x", reference="k"))
        assert (raised.value.kind, raised.value.account_level) == (kind, account_level)
    finally:
        _control(settings, throttle_rate=0.0, error_rate=0.0, accept_error_rate=0.0)
        await provider.aclose()


async def test_adapter_too_long_and_unknown_message_are_permanent(live_server, settings):
    provider = _provider(settings)
    try:
        with pytest.raises(SmsError) as raised:
            await provider.send(SendRequest(to=PHONE, sender="", body="あ" * 671))
        assert raised.value.kind == "permanent" and raised.value.http_status == 422
        with pytest.raises(SmsError) as raised:
            await provider.fetch("no-such-id")
        assert raised.value.http_status == 404 and not raised.value.account_level
    finally:
        await provider.aclose()
