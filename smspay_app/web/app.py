"""The Starlette app that serves everything outside Reflex's admin UI: short
links and the recipient pages (plain HTML, no JavaScript needed), provider
webhooks, the REST API, and the built-in SMS simulator and payment sandbox.
Reflex mounts itself behind it (``api_transformer``); tests run it alone."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount


def web_routes() -> list[BaseRoute]:
    from smspay_app.providers.payments import sandbox
    from smspay_app.providers.sim_store import SimStore
    from smspay_app.providers.sms import simulator
    from smspay_app.settings import get_settings, require_provider_secrets, require_shared_storage
    from smspay_app.web import (
        api,
        exports,
        invoice,
        karaden_callbacks,
        payment_webhooks,
        recipient,
        session_cookie,
        sms_webhooks,
    )
    from smspay_app.web.sim_guard import SimulatorGuard

    settings = get_settings()
    require_provider_secrets(settings)  # a real provider with a public default secret: refuse to start
    require_shared_storage(settings)  # several processes, uploads in a folder not shared: refuse to start
    settings_routes: list[BaseRoute] = [
        *recipient.routes,
        *invoice.routes,
        *sms_webhooks.routes,
        *karaden_callbacks.routes,
        *payment_webhooks.routes,
        *exports.routes,
        *session_cookie.routes,
        Mount("/api", app=api.create_api()),
    ]
    # The built-in simulators sign what they send with the configured Twilio
    # auth token / Stripe webhook secret and have unauthenticated control and
    # reply endpoints: with a real provider they would let anyone forge signed
    # webhooks (opt-outs, replies, payments). Mounted only when in use.
    # Both reachable only from this machine or by a signed-in admin
    # (web.sim_guard; the sandbox's hosted checkout page stays public).
    # Their state is in the installation's SimStore: every app process (several
    # Granian workers with Redis) sees the same inbox and checkouts (issue 17).
    store = SimStore.for_installation(settings)
    if settings.sms_provider == "simulator":
        settings_routes.append(Mount("/sim/twilio", app=SimulatorGuard(simulator.create_app(store=store))))
        from smspay_app.providers.sms import karaden_simulator

        settings_routes.append(
            Mount(
                "/sim/karaden",
                app=SimulatorGuard(
                    karaden_simulator.create_app(
                        tenant_id=settings.karaden_sim_tenant_id,
                        token=settings.karaden_sim_token,
                        service_id=settings.karaden_sim_service_id,
                        store=store,
                    )
                ),
            )
        )
    if settings.payment_provider == "sandbox":
        guarded = SimulatorGuard(
            sandbox.create_app(sandbox.SandboxConfig(), store=store),
            open_prefixes=("/sim/stripe/pay/",),
        )
        settings_routes.append(Mount("/sim/stripe", app=guarded))
    if settings.komoju_sandbox_in_use:
        from smspay_app.providers.payments import komoju_sandbox

        # the hosted page and the payer's instructions are public (unguessable ids)
        open_paths = ("/sim/komoju/sessions/", "/sim/komoju/instructions/")
        settings_routes.append(
            Mount(
                "/sim/komoju",
                app=SimulatorGuard(komoju_sandbox.create_app(store=store), open_prefixes=open_paths),
            )
        )
    return settings_routes


def build_web_app() -> Starlette:
    from starlette.middleware import Middleware

    from smspay_app.web.headers import SecurityHeaders
    from smspay_app.web.server_log import AssetNotFoundLog
    from smspay_app.web.session_cookie import SessionRef
    from smspay_app.web.upload_guard import UploadGuard

    # SecurityHeaders: no framing, no sniffing, HSTS over https on every
    # response, the admin console's included (issue 18, item 11).
    # UploadGuard: Reflex's /_upload (mounted behind this app) refuses no
    # session or an oversized body before reading it (issue 18, item 9).
    # AssetNotFoundLog: an asset 404 logs one line (issue 17, item 7).
    # SessionRef: Reflex's event socket sees the session cookie's hash, never
    # the token (issue 17, item 6); innermost, after UploadGuard read it.
    return Starlette(
        routes=web_routes(),
        middleware=[
            Middleware(AssetNotFoundLog),
            Middleware(SecurityHeaders),
            Middleware(UploadGuard),
            Middleware(SessionRef),
        ],
        exception_handlers={404: _not_found},
        lifespan=_started,  # served alone (uvicorn); under Reflex, a lifespan task (smspay_app.py)
    )


_start_up_frozen = False


def freeze_start_up_objects() -> None:
    """Once the server has started, move every object alive then (modules,
    classes, routes, compiled pages: about 128,000) out of the cyclic garbage
    collector's reach, once per process. A full collection then scans only
    what requests allocated: over the start-up objects it took 60-110 ms
    while every request in flight waited (issue 16, item 2: the landing
    page's p99). They are still freed by reference counting."""
    global _start_up_frozen
    if _start_up_frozen:
        return
    _start_up_frozen = True
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def _started(app: Starlette) -> AsyncIterator[None]:  # noqa: ARG001
    freeze_start_up_objects()
    yield


async def _not_found(request, exc):
    """A path no route matches (``/api/v1/x%0A`` matches not even the API's
    mount): the API's JSON error shape under ``/api/``, plain text elsewhere
    (issue 18, item 11: such API paths got a plain-text 404)."""
    from starlette.responses import PlainTextResponse

    if request.url.path.startswith("/api/"):
        from smspay_app.web.api import error_response

        return error_response(request, 404, "not_found")
    return PlainTextResponse("Not Found", status_code=404)
