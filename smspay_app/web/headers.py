"""Security headers on every response that does not set its own: the admin
console's pages (Reflex, mounted behind ``web.app``), the API, the
simulators. No framing (``frame-ancestors 'none'``, ``X-Frame-Options``), no
MIME sniffing, no referrer, and HSTS when the app is served over https. The
recipient pages set a stricter policy themselves (``web.html``).

Issue 18, item 11: admin pages sent no CSP, frame-ancestors or HSTS (the
recipient pages did)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASE = {
    "content-security-policy": "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"
# Encoded once (issue 16, item 2: the per-response MutableHeaders lookups cost
# more than a trivial route's whole response).
_BASE_RAW = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in BASE.items()]
_HSTS_RAW = (b"strict-transport-security", HSTS.encode("latin-1"))


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
                raw = message.setdefault("headers", [])
                if not isinstance(raw, list):
                    raw = message["headers"] = list(raw)
                present = {name.lower() for name, _ in raw}
                raw.extend(pair for pair in _BASE_RAW if pair[0] not in present)
                if https and _HSTS_RAW[0] not in present:
                    raw.append(_HSTS_RAW)
            await send(message)

        await self.app(scope, receive, with_headers)
