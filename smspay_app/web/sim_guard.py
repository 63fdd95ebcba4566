"""Who may reach the built-in simulators (``/sim/twilio``, ``/sim/stripe``):
this machine (loopback, or a connection from one of its own addresses: the
app's own provider adapters calling ``public_base_url``), or a signed-in
admin. Everyone may open the sandbox's hosted checkout page
(``/sim/stripe/pay/{id}``, an unguessable id the recipient's phone is sent
to). Applied where the simulators are mounted (``web.app``), not inside them.

Issue 18, item 10: the unauthenticated ``/sim/twilio/inbox`` listed live
link tokens and codes, and ``/_reset``, ``/_control`` needed no
authentication, with the demo listening on 0.0.0.0."""

from __future__ import annotations

import ipaddress
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from smspay_app.web.upload_guard import SESSION_COOKIE


def _client_host(scope: Scope) -> str:
    from smspay_app.services import api_keys

    return api_keys.client_address_of(scope)


def from_this_machine(scope: Scope) -> bool:
    host = _client_host(scope)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    server = (scope.get("server") or ("", 0))[0] or ""
    return bool(server) and host == server  # a connection to our own address, from it


def _admin(token: str | None) -> bool:
    from smspay_app.db import session_scope
    from smspay_app.services import auth

    if not token:
        return False
    with session_scope() as session:
        caller = auth.caller_for_token(session, token)
        return caller is not None and caller.role == "admin" and not caller.must_change_password


class SimulatorGuard:
    """Wraps a mounted simulator; ``open_prefixes`` (full paths) stay public."""

    def __init__(self, app: ASGIApp, open_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.open_prefixes = open_prefixes

    @property
    def routes(self) -> list[Any]:
        """The simulator's routes, so that ``url_for`` still finds them through the mount."""
        return list(getattr(self.app, "routes", []))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.open_prefixes or ("\0",)):
            await self.app(scope, receive, send)
            return
        if from_this_machine(scope):
            await self.app(scope, receive, send)
            return
        cookies: SimpleCookie[Any] = SimpleCookie()
        for key, value in scope.get("headers", []):
            if key.lower() == b"cookie":
                try:
                    cookies.load(value.decode("latin-1"))
                except Exception:
                    pass
        token = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else None
        if await run_in_threadpool(_admin, token):
            await self.app(scope, receive, send)
            return
        body = b"The simulators are reachable from this machine or by a signed-in admin."
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
