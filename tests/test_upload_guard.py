"""Issue 18, item 9 (Medium): ``/_upload`` keeps no bytes of a request with no
session or over the size limit.

The attack run sent 1 GiB to ``/_upload`` with a random client token and no
session: 200 after about 6 s and about 1 GB of disk while it lasted; signed
in, a 200 MB file was refused only after being spooled. ``web.upload_guard``
sits in front of Reflex's route (``build_web_app``, which Reflex mounts itself
behind) and answers before reading the body."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from smspay_app.web.upload_guard import MAX_UPLOAD_BYTES, SESSION_COOKIE, UploadGuard
from tests.factories import make_org, signed_in

GIB = 1024**3


def _raw_upload(base_url: str, *, length: int | None, cookie: str = "", send_bytes: int = 256 * 1024):
    """Start a multipart upload declaring ``length`` (None: chunked) and send
    only ``send_bytes`` of it; returns (status line, seconds, bytes sent)."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = [
        "POST /_upload HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: multipart/form-data; boundary=xyz",
        "Reflex-Client-Token: 0123456789abcdef0123456789abcdef",
        "Reflex-Event-Handler: state.campaign_import_state.handle_upload",
    ]
    head.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if cookie:
        head.append(f"Cookie: {SESSION_COOKIE}={cookie}")
    started = time.monotonic()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    chunk = b"x" * 16384
    try:
        while sent < send_bytes:
            data = chunk if length is not None else b"4000\r\n" + chunk + b"\r\n"
            sock.sendall(data)
            sent += len(chunk)
    except OSError:
        pass  # the server closed the connection: it kept nothing more
    status = sock.recv(4096).split(b"\r\n", 1)[0].decode()
    sock.close()
    return status, time.monotonic() - started, sent


def test_one_gib_without_a_session_is_refused_before_the_body_is_read(live_server, session):
    """Finding 9: no session: 401 at once, after under 1 MB sent (the server
    read none of it), with a declared 1 GiB or a chunked body."""
    for length in (GIB, None):
        status, seconds, sent = _raw_upload(live_server.base_url, length=length, cookie="")
        assert " 401 " in status and sent <= 1024 * 1024 and seconds < 5
        status, _, _ = _raw_upload(live_server.base_url, length=length, cookie="random-not-a-session")
        assert " 401 " in status


def test_a_signed_in_upload_over_the_limit_is_refused_before_spooling(live_server, session):
    """Finding 9: signed in, a declared 200 MB file is refused (413) before
    its body is read."""
    token, _ = signed_in(session, make_org(session), "operator")
    status, seconds, sent = _raw_upload(live_server.base_url, length=200 * 1024 * 1024, cookie=token)
    assert " 413 " in status and sent <= 1024 * 1024 and seconds < 5


@pytest.mark.parametrize("role", ["support"])
def test_a_role_that_cannot_import_cannot_upload(live_server, session, role):
    token, _ = signed_in(session, make_org(session), role)
    status, _, _ = _raw_upload(live_server.base_url, length=1000, cookie=token, send_bytes=0)
    assert " 401 " in status


async def test_a_chunked_body_is_cut_off_at_the_limit(settings, session):
    """Finding 9 (no declared length): what the upload route reads is counted
    and the request is cut off with 413 once past the limit; a body within
    the limit reaches the route whole."""
    token, _ = signed_in(session, make_org(session), "operator")
    read: list[int] = []

    async def spooler(scope, receive, send):  # stands where Reflex's upload route is
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        read.append(total)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = UploadGuard(spooler, max_bytes=1024 * 1024)

    async def body(n):
        for _ in range(n):
            yield b"x" * 65536

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        cookies = {SESSION_COOKIE: token}
        client.cookies.update(cookies)
        big = await client.post("/_upload", content=body(64))  # 4 MiB, no length
        assert big.status_code == 413 and read == []
        small = await client.post("/_upload", content=body(4))
        assert small.status_code == 200 and read == [4 * 65536]
    assert MAX_UPLOAD_BYTES > 20 * 1024 * 1024
