"""The Starlette app that serves everything outside Reflex's admin UI: short
links and the recipient pages (plain HTML, no JavaScript needed), provider
webhooks, the REST API, and the built-in SMS simulator and payment sandbox.
Reflex mounts itself behind it (``api_transformer``); tests run it alone."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount


def web_routes() -> list[BaseRoute]:
    from smspay_app.providers.payments import sandbox
    from smspay_app.providers.sms import simulator
    from smspay_app.settings import get_settings
    from smspay_app.web import api, exports, payment_webhooks, recipient, sms_webhooks

    settings = get_settings()
    settings_routes: list[BaseRoute] = [
        *recipient.routes,
        *sms_webhooks.routes,
        *payment_webhooks.routes,
        *exports.routes,
        Mount("/api", app=api.create_api()),
    ]
    # The built-in simulators sign what they send with the configured Twilio
    # auth token / Stripe webhook secret and have unauthenticated control and
    # reply endpoints: with a real provider they would let anyone forge signed
    # webhooks (opt-outs, replies, payments). Mounted only when in use.
    if settings.sms_provider == "simulator":
        settings_routes.append(Mount("/sim/twilio", app=simulator.create_app()))
        from smspay_app.providers.sms import karaden_simulator

        settings_routes.append(
            Mount(
                "/sim/karaden",
                app=karaden_simulator.create_app(
                    tenant_id=settings.karaden_sim_tenant_id,
                    token=settings.karaden_sim_token,
                    service_id=settings.karaden_sim_service_id,
                ),
            )
        )
    if settings.payment_provider == "sandbox":
        settings_routes.append(Mount("/sim/stripe", app=sandbox.create_app()))
    return settings_routes


def build_web_app() -> Starlette:
    return Starlette(routes=web_routes())
