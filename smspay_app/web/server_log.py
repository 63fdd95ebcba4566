"""Failures that used to leave no trace in any server log now write one clear
line each (issue 17, item 7: behind a load balancer 9 JS assets returned 404,
imports stalled, uploads were missing, limits refused and Redis failed, and
none of it was logged):

- an asset 404 (``AssetNotFoundLog``, a middleware in front of everything,
  Reflex's frontend included): usually a frontend built apart from the one the
  page came from (every app process must serve the same build);
- a state-manager error (``backend_exception_handler``, Reflex's backend
  exception handler): the state could not be read or saved (Redis);
- a missing upload (``services.uploads.load_upload``), a stalled import
  (``services.imports.ImportWatch``) and a limiter's refusal
  (``domain.limits.SlidingWindowLimiter.hit``) log where they happen.

Lines name what failed and the likely cause; never a token, address or
personal value."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from reflex.event import EventSpec

log = logging.getLogger("smspay.server")

# What a built frontend serves: hashed bundles under /assets/ (and Next's
# /_next/), or any file with a static extension.
_ASSET = re.compile(r"^/(assets|_next)/|\.(js|mjs|css|map|woff2?|ttf|png|svg|ico|webp|json)$")


def is_asset_path(path: str) -> bool:
    return bool(_ASSET.search(path))


class AssetNotFoundLog:
    """One warning line for every asset answered 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or not is_asset_path(path) or path.startswith(("/l/", "/api/")):
            await self.app(scope, receive, send)
            return

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 404:
                log.warning(
                    "asset not found: %s (404). A page built by another frontend build asked for it:"
                    " every app process must serve the same build (build once, deploy the same .web/build)",
                    path[:200],
                )
            await send(message)

        await self.app(scope, receive, watching)


def _redis_error_types() -> tuple[type[BaseException], ...]:
    try:
        import redis.exceptions as rexc
    except ImportError:  # pragma: no cover - redis comes with Reflex
        return ()
    return (rexc.RedisError,)


def is_state_manager_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from reading or saving the state (Redis, the
    state's lock, its (de)serialisation), not from a handler's own code."""
    if isinstance(exc, _redis_error_types()):
        return True
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    return module.startswith(("reflex", "reflex_base")) and (
        "Lock" in name or "StateSerialization" in name or "StateManager" in name or "StateTooLarge" in name
    )


def _redis_location() -> str:
    import os
    from urllib.parse import urlsplit

    url = os.environ.get("REFLEX_REDIS_URL", "")
    if not url:
        return "memory"
    parts = urlsplit(url)
    return f"Redis at {parts.hostname}:{parts.port or 6379}"  # never the password


def backend_exception_handler(exception: Exception) -> EventSpec:
    """Reflex's backend exception handler: a state-manager error logs one line
    (what, where, the likely cause) and shows the usual toast; anything else
    goes to Reflex's default handler (its traceback is the useful part).
    Reflex checks the signature: the argument's name and the return type."""
    from reflex.app import default_backend_exception_handler

    exc = exception
    if not is_state_manager_error(exc):
        return default_backend_exception_handler(exc)
    log.error(
        "state manager error (%s): %s: %s. The session's state could not be read or saved;"
        " check that Redis is up and REFLEX_REDIS_URL is the same for every app process",
        _redis_location(),
        type(exc).__name__,
        str(exc)[:200],
    )
    from reflex_components_sonner.toast import toast

    return toast(
        "An error occurred.",
        level="error",
        fallback_to_alert=True,
        description="Contact the website administrator.",
        position="top-center",
        id="backend_error",
    )
