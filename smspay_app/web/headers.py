"""Security headers on every response that does not set its own: the admin
console's pages (Reflex, mounted behind ``web.app``), the API, the
simulators. No framing (``frame-ancestors 'none'``, ``X-Frame-Options``), no
MIME sniffing, no referrer, and HSTS when the app is served over https. The
recipient pages set a stricter policy themselves (``web.html``).

Issue 18, item 11: admin pages sent no CSP, frame-ancestors or HSTS (the
recipient pages did)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASE = {
    "content-security-policy": "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from smspay_app.settings import get_settings

        https = get_settings().public_base_url.startswith("https://")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in BASE.items():
                    if name not in headers:
                        headers[name] = value
                if https and "strict-transport-security" not in headers:
                    headers["strict-transport-security"] = HSTS
            await send(message)

        await self.app(scope, receive, with_headers)
