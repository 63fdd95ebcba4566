"""Issue 18, item 6 (Medium): outbound webhooks never reach internal services
by default.

With the old default ``SMSPAY_WEBHOOK_ALLOW_PRIVATE_TARGETS=true`` an endpoint
on 127.0.0.1 received the POST and its answer ("INTERNAL-ADMIN-SECRET: ...")
was shown to the organisation as the delivery's response excerpt; the
metadata address 169.254.169.254 was requested; an endpoint at the app's own
``/sim/twilio/_reset`` emptied the simulator for every organisation. Now
private targets are off unless the app runs as the embedded demo (built-in
simulator and sandbox), the app's own origin is never a target, every URL
trick below is refused, and the address checked is the address connected to
(DNS rebinding)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from smspay_app.settings import get_settings
from smspay_app.worker import outbound

TRICKS = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://localhost./hook",
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/hook",  # in hexadecimal
    "http://127.1/hook",  # shortened
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://user:pass@127.0.0.1:8080/hook",  # credentials in front
    "http://[fd00::1]/hook",  # unique local IPv6
    "http://no-such-host.invalid/hook",  # does not resolve
]


@pytest.fixture
def real_provider(monkeypatch, settings):
    """The configuration of a deployment with a real SMS provider and nothing
    said about private targets (the default)."""
    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    monkeypatch.delenv("SMSPAY_WEBHOOK_ALLOW_PRIVATE_TARGETS", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


class Receiver:
    def __init__(self) -> None:
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                receiver.hits += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"INTERNAL-ADMIN-SECRET: hunter2")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _job(url: str) -> outbound.Job:
    return outbound.Job(1, url, "whsec_" + "A" * 32, "evt_1", b"{}")


def test_private_targets_are_off_by_default_outside_the_embedded_demo(settings, monkeypatch):
    """Finding 6: the default allowed private targets everywhere."""
    monkeypatch.delenv("SMSPAY_WEBHOOK_ALLOW_PRIVATE_TARGETS", raising=False)
    get_settings.cache_clear()
    assert get_settings().embedded_demo and get_settings().webhook_private_targets_allowed
    for provider_env in ({"SMSPAY_SMS_PROVIDER": "twilio"}, {"SMSPAY_PAYMENT_PROVIDER": "stripe"}):
        for k, v in provider_env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        assert not get_settings().webhook_private_targets_allowed
        for k in provider_env:
            monkeypatch.delenv(k)
    monkeypatch.setenv("SMSPAY_WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_settings.cache_clear()
    assert not get_settings().webhook_private_targets_allowed
    get_settings.cache_clear()


@pytest.mark.parametrize("url", TRICKS)
def test_every_url_trick_to_an_internal_address_is_refused(real_provider, url):
    """Finding 6: with private targets off, loopback, private, link-local
    (metadata), shortened and encoded addresses are all refused."""
    assert not isinstance(outbound.resolve_target(url), outbound.Target)


def test_the_apps_own_origin_is_never_a_target_even_in_the_demo(settings):
    """Finding 6: an endpoint at the app's own ``/sim/twilio/_reset`` emptied
    the simulator for every organisation."""
    assert settings.webhook_private_targets_allowed
    own = f"{settings.public_base_url}/sim/twilio/_reset"
    assert outbound.resolve_target(own) == "target address not allowed"


async def test_an_internal_endpoint_gets_nothing_and_its_answer_is_never_shown(real_provider, receiver):
    """Finding 6 over real HTTP: the POST never reaches the internal server,
    so no internal answer can become the delivery's response excerpt."""
    async with httpx.AsyncClient(timeout=2) as client:
        result = await outbound._deliver(client, _job(f"http://127.0.0.1:{receiver.port}/hook"))
    assert result.status_code is None and result.error == "target address not allowed"
    assert "INTERNAL" not in result.excerpt and receiver.hits == 0


async def test_dns_rebinding_connects_to_the_checked_address(real_provider, receiver, monkeypatch):
    """Finding 6 (DNS rebinding): a name that resolves to a public address
    when checked and to 127.0.0.1 afterwards. The name is resolved once and
    the connection goes to the address that was checked, so the internal
    server is never reached. (The resolver stands in for a DNS server.)"""
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14"])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            ip = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    target = outbound.resolve_target(f"http://rebind.example:{receiver.port}/hook")
    assert isinstance(target, outbound.Target)
    assert target.url == f"http://93.184.215.14:{receiver.port}/hook"
    assert target.headers == {"host": f"rebind.example:{receiver.port}"}
    answers = iter(["93.184.215.14"])
    async with httpx.AsyncClient(timeout=1) as client:
        await outbound._deliver(client, _job(f"http://rebind.example:{receiver.port}/hook"))
    assert receiver.hits == 0


def test_https_targets_keep_their_name_for_tls(real_provider, monkeypatch):
    """The pinned https target still presents the original name (SNI and
    certificate check) and Host header."""
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: (
            [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
            if host == "hooks.example.com"
            else real(host, port, *a, **k)
        ),
    )
    target = outbound.resolve_target("https://hooks.example.com/in")
    assert target.url == "https://93.184.215.14/in"
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
    assert target.headers == {"host": "hooks.example.com"}
