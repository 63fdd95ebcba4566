"""An ASGI middleware in front of Reflex's ``/_upload`` route: no admin
session, or a declared body over the limit, is refused before one byte of the
body is read, and a body without a declared length is cut off at the limit.

Issue 18, item 9: 1 GiB sent to ``/_upload`` with a random client token and
no session got 200 after about 6 s and took about 1 GB of disk while it
lasted; signed in, a 200 MB file was refused only after being spooled.
Reflex spools the multipart body before any handler can look at it, so the
check must come first."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smspay_app.domain.csv_import import DEFAULT_MAX_BYTES

UPLOAD_PATH = "/_upload"
from smspay_app.web.session_cookie import SESSION_COOKIE  # noqa: E402

# The largest recipient file plus room for the multipart envelope.
MAX_UPLOAD_BYTES = DEFAULT_MAX_BYTES + 64 * 1024


class BodyTooLarge(Exception):
    pass


def _session_ok(token: str | None) -> bool:
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    if not token:
        return False
    with session_scope() as session:
        caller = auth.caller_for_token(session, token)
        return caller is not None and caller.can("campaign.edit")


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class UploadGuard:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith(UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS":  # CORS preflight carries no body
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key.lower(), value)
        cookies: SimpleCookie[Any] = SimpleCookie()
        try:
            cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed cookie header: no session
            cookies = SimpleCookie()
        token = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else None
        if not await run_in_threadpool(_session_ok, token):
            await _answer(send, 401, "sign in to upload")
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = True
            if too_large:
                await _answer(send, 413, "file too large")
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, "file too large")
