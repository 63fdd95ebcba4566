"""Contract tests: Twilio's official Python SDK (``twilio`` 9.13) is the oracle.

``twilio.rest.Client`` drives the SMS simulator over real HTTP (its own process;
the SDK's own ``TwilioHttpClient``, with the host ``api.twilio.com`` rewritten
to the simulator's address) through create, fetch, list with ``stream()``
paging and every error the product relies on; the status callbacks the
simulator posts are checked with ``twilio.request_validator.RequestValidator``.
A field, status code or paging shape the SDK would not see from Twilio fails
here.

The same tests run against the real Twilio API with Twilio's *test
credentials* when ``TWILIO_TEST_ACCOUNT_SID`` and ``TWILIO_TEST_AUTH_TOKEN`` are
set (Twilio's magic numbers: from ``+15005550006``; ``+15005550001`` is an
invalid number). Twilio's test credentials cannot fetch or list messages, nor
post callbacks, so those tests are skipped there, with the reason."""

from __future__ import annotations

import inspect
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from tests.helpers import free_port, start_simulator, wait_until

TWILIO_HOSTS = ("https://api.twilio.com", "https://lookups.twilio.com")


class RewritingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending what it would send to Twilio's hosts
    to the simulator instead (the documented way to plug an HTTP client into
    ``twilio.rest.Client``: ``Client(..., http_client=...)``)."""

    def __init__(self, base: str):
        super().__init__(pool_connections=True)
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        for host in TWILIO_HOSTS:
            if url.startswith(host):
                url = self.base + url[len(host) :]
        return super().request(method, url, *args, **kwargs)


@dataclass
class Target:
    name: str
    client: Client
    auth_token: str
    sender: str
    to: str  # a number that accepts messages
    invalid_to: str
    sim_base: str = ""
    can_read: bool = True  # fetch / list / callbacks
    bad_token_client: Client | None = None
    extra: dict = field(default_factory=dict)

    def last_json(self) -> dict:
        return json.loads(self.client.http_client._test_only_last_response.text)

    def control(self, **cfg):
        assert httpx.post(self.sim_base + "/_control", json=cfg).status_code == 200


@pytest.fixture(params=["simulator", "twilio-test-credentials"])
def target(request, settings):
    if request.param == "twilio-test-credentials":
        sid, token = os.environ.get("TWILIO_TEST_ACCOUNT_SID"), os.environ.get("TWILIO_TEST_AUTH_TOKEN")
        if not (sid and token):
            pytest.skip("real Twilio: set TWILIO_TEST_ACCOUNT_SID and TWILIO_TEST_AUTH_TOKEN (test credentials)")
        yield Target(
            name=request.param,
            client=Client(sid, token),
            auth_token=token,
            sender="+15005550006",
            to="+15005550006",
            invalid_to="+15005550001",
            can_read=False,
            bad_token_client=Client(sid, "wrong-" + token),
        )
        return
    proc, base = start_simulator(settings)
    try:
        yield Target(
            name=request.param,
            client=Client(
                settings.twilio_account_sid, settings.twilio_auth_token, http_client=RewritingHttpClient(base)
            ),
            auth_token=settings.twilio_auth_token,
            sender="SMSPAY",
            to="+819012345678",
            invalid_to="090-bad",
            sim_base=base,
            bad_token_client=Client(settings.twilio_account_sid, "wrong-token", http_client=RewritingHttpClient(base)),
        )
    finally:
        proc.kill()
        proc.wait()


def _needs_read(target: Target) -> None:
    if not target.can_read:
        pytest.skip("Twilio's test credentials cannot fetch or list messages, nor post callbacks")


def _needs_sim(target: Target) -> None:
    if not target.sim_base:
        pytest.skip("needs the simulator's fault controls")


def _sdk_fields(cls) -> set[str]:
    """The JSON fields the SDK reads into a resource instance."""
    return set(re.findall(r'payload\.get\("(\w+)"\)', inspect.getsource(cls.__init__)))


# ------------------------------------------------------------------ create / fetch


def test_create_returns_every_field_the_sdk_reads(target):
    message = target.client.messages.create(to=target.to, from_=target.sender, body="A" * 100)
    raw = target.last_json()
    missing = _sdk_fields(MessageInstance) - set(raw)
    assert not missing, f"fields the SDK reads but the response lacks: {sorted(missing)}"
    assert target.client.http_client._test_only_last_response.status_code == 201
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status in ("queued", "accepted")
    assert message.messaging_service_sid is None
    assert message.num_media == "0"
    assert set(message.subresource_uris) >= {"media", "feedback"}
    assert message.date_created is not None and message.date_sent is None  # queued: not sent yet
    assert message.to == target.to and message.body == "A" * 100


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("A" * 100, "1"),  # GSM-7: 160 in one segment
        ("A" * 160, "1"),
        ("A" * 161, "2"),  # 153 per concatenated segment
        ("お" * 70, "1"),  # UCS-2: 70 in one
        ("お" * 71, "2"),  # 67 per concatenated segment
        ("A" * 100 + "€", "1"),  # extension character: two septets, still GSM-7
    ],
)
def test_num_segments_counts_gsm7_and_ucs2_like_twilio(target, body, segments):
    message = target.client.messages.create(to=target.to, from_=target.sender, body=body)
    assert message.num_segments == segments


def test_fetch_returns_the_message_and_unknown_sid_is_20404(target):
    _needs_read(target)
    created = target.client.messages.create(to=target.to, from_=target.sender, body="fetch me")
    fetched = target.client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.to) == (created.sid, "fetch me", target.to)
    assert not _sdk_fields(MessageInstance) - set(target.last_json())
    with pytest.raises(TwilioRestException) as err:
        target.client.messages("SM" + "0" * 32).fetch()
    assert (err.value.status, err.value.code) == (404, 20404)


# ------------------------------------------------------------------ list / paging


def test_stream_pages_through_every_message_to_one_number(target):
    _needs_read(target)
    other = "+819087654321"
    for i in range(105):
        target.client.messages.create(to=target.to, from_=target.sender, body=f"m{i}")
        if i % 20 == 0:
            target.client.messages.create(to=other, from_=target.sender, body=f"other{i}")
    seen = list(target.client.messages.stream(to=target.to, page_size=20))
    assert len(seen) == 105 and {m.to for m in seen} == {target.to}
    assert len({m.sid for m in seen}) == 105
    assert [m.body for m in seen] == [f"m{i}" for i in reversed(range(105))]  # newest first
    page = target.client.messages.page(to=target.to, page_size=20)
    raw = target.last_json()
    for key in ("first_page_uri", "end", "previous_page_uri", "uri", "page_size", "start", "next_page_uri", "page"):
        assert key in raw, key
    assert (raw["start"], raw["end"], raw["page"], raw["previous_page_uri"]) == (0, 19, 0, None)
    assert "PageToken=" in raw["next_page_uri"] and "To=%2B819012345678" in raw["next_page_uri"]
    second = page.next_page()
    raw2 = target.last_json()
    assert (raw2["start"], raw2["end"], raw2["page"]) == (20, 39, 1)
    assert raw2["previous_page_uri"] is not None
    assert len(list(second)) == 20


def test_date_sent_filters_in_the_sdks_iso_form_and_bad_page_size_is_a_400(target):
    _needs_read(target)
    from datetime import UTC, datetime, timedelta

    target.client.messages.create(to=target.to, from_=target.sender, body="dated")
    # The SDK sends DateSent> as 2026-11-30T09:15:00Z (serialize.iso8601_datetime).
    yesterday = datetime.now(UTC) - timedelta(days=1)
    listed = list(target.client.messages.stream(to=target.to, date_sent_after=yesterday))
    assert all(m.to == target.to for m in listed)
    _needs_sim(target)
    r = httpx.get(
        f"{target.sim_base}/2010-04-01/Accounts/{target.client.account_sid}/Messages.json",
        params={"PageSize": "abc"},
        auth=(target.client.account_sid, target.auth_token),
    )
    assert r.status_code == 400 and r.json()["code"] == 20001


def test_date_sent_matches_only_sent_messages_as_on_twilio(target):
    """A message still queued has no date_sent: Twilio's DateSent> filter leaves
    it out (so reconciliation must not rely on DateSent> alone)."""
    _needs_sim(target)
    target.control(progress_delay_ms=60_000, callbacks=False)
    target.client.messages.create(to=target.to, from_=target.sender, body="still queued")
    assert [m.body for m in target.client.messages.stream(to=target.to)] == ["still queued"]
    assert list(target.client.messages.stream(to=target.to, date_sent_after="2000-01-01")) == []


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("invalid_to", 400, 21211),
        ("no_body", 400, 21602),
        ("no_from", 400, 21603),
        ("too_long", 400, 21617),
    ],
)
def test_create_errors_carry_twilios_codes(target, case, status, code):
    kwargs = {"to": target.to, "from_": target.sender, "body": "hello"}
    if case == "invalid_to":
        kwargs["to"] = target.invalid_to
    elif case == "no_body":
        kwargs["body"] = ""
    elif case == "no_from":
        del kwargs["from_"]
    elif case == "too_long":
        kwargs["body"] = "a" * 1601
    with pytest.raises(TwilioRestException) as err:
        target.client.messages.create(**kwargs)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.msg


def test_wrong_auth_token_is_401_20003(target):
    with pytest.raises(TwilioRestException) as err:
        target.bad_token_client.messages.create(to=target.to, from_=target.sender, body="hello")
    assert (err.value.status, err.value.code) == (401, 20003)


def test_throttled_create_is_429_20429(target):
    _needs_sim(target)
    target.control(throttle_rate=1.0)
    with pytest.raises(TwilioRestException) as err:
        target.client.messages.create(to=target.to, from_=target.sender, body="hello")
    assert (err.value.status, err.value.code) == (429, 20429)


def test_rotated_token_refuses_the_old_one(target):
    _needs_sim(target)
    target.control(auth_token="rotated-" + uuid.uuid4().hex)
    with pytest.raises(TwilioRestException) as err:
        target.client.messages.create(to=target.to, from_=target.sender, body="hello")
    assert (err.value.status, err.value.code) == (401, 20003)


# ------------------------------------------------------------------ callbacks


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self.received.append((self.path, dict(self.headers), dict(parse_qsl(body, keep_blank_values=True))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_every_status_callback_validates_with_the_sdks_request_validator(target):
    _needs_read(target)
    port = free_port()
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/webhooks/twilio/status?ref=abc123"
        target.control(callback_duplicate_rate=1.0, seed=3)
        message = target.client.messages.create(to=target.to, from_=target.sender, body="cb", status_callback=url)
        assert wait_until(lambda: len(_Receiver.received) >= 6, timeout=10)
    finally:
        server.shutdown()
    validator = RequestValidator(target.auth_token)
    tokens = []
    for path, headers, params in _Receiver.received:
        signature = headers.get("X-Twilio-Signature")
        assert validator.validate(f"http://127.0.0.1:{port}{path}", params, signature), params
        assert not validator.validate(f"http://127.0.0.1:{port}{path}", {**params, "MessageStatus": "x"}, signature)
        assert params["MessageSid"] == message.sid and params["AccountSid"] == target.client.account_sid
        tokens.append(headers.get("I-Twilio-Idempotency-Token"))
    statuses = [p["MessageStatus"] for _, _, p in _Receiver.received]
    assert sorted(set(statuses)) == ["delivered", "queued", "sent"]
    # A duplicate delivery is Twilio retrying the same event: the same idempotency token.
    assert len(set(tokens)) == 3 and all(tokens)


# ------------------------------------------------------------------ the adapter speaks as the SDK does


class _Recorder(BaseHTTPRequestHandler):
    """Records each request and answers with one canned Twilio message."""

    seen: list = []
    answer: dict = {}

    def _record(self, body: str) -> None:
        self.seen.append((self.command, self.path, dict(self.headers), parse_qsl(body, keep_blank_values=True)))
        payload = json.dumps(self.answer).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):  # noqa: N802
        self._record(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())

    def do_GET(self):  # noqa: N802
        self._record("")

    def log_message(self, *args):
        pass


async def test_the_adapter_sends_what_the_sdk_sends(target):
    """The production adapter and the official SDK, pointed at one recording
    server, make the same create request (method, path, auth, form fields) and
    read the same answer the same way."""
    _needs_sim(target)
    from smspay_app.providers.sms.base import SendRequest
    from smspay_app.providers.sms.twilio import TwilioProvider

    sid_of_account = target.client.account_sid
    created = target.client.messages.create(to=target.to, from_=target.sender, body="お支払い A-1")
    _Recorder.answer = target.last_json()
    _Recorder.seen = []
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    callback = "https://example.test/webhooks/twilio/status?ref=k1"
    try:
        sdk = Client(sid_of_account, target.auth_token, http_client=RewritingHttpClient(base))
        sdk.messages.create(to=target.to, from_=target.sender, body="お支払い A-1", status_callback=callback)
        adapter = TwilioProvider(api_base=base, account_sid=sid_of_account, auth_token=target.auth_token)
        try:
            message = await adapter.send(
                SendRequest(to=target.to, sender=target.sender, body="お支払い A-1", status_callback=callback)
            )
            await adapter.fetch(created.sid)
        finally:
            await adapter.aclose()
    finally:
        server.shutdown()
    (sdk_method, sdk_path, sdk_headers, sdk_form), (method, path, headers, form), fetch = _Recorder.seen
    assert (method, path) == (sdk_method, sdk_path) == ("POST", f"/2010-04-01/Accounts/{sid_of_account}/Messages.json")
    assert sorted(form) == sorted(sdk_form)
    assert headers["Authorization"] == sdk_headers["Authorization"]
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert fetch[:2] == ("GET", f"/2010-04-01/Accounts/{sid_of_account}/Messages/{created.sid}.json")
    assert (message.sid, message.to, message.body, message.num_segments) == (
        created.sid,
        created.to,
        created.body,
        int(created.num_segments),
    )
