"""``POST /webhooks/stripe``: the payment gateway's signed events (Stripe or
the built-in sandbox). The signature is checked on the raw body with a 300 s
tolerance before anything is parsed; a bad or stale signature answers 400 and
changes nothing; event ids are deduplicated (a replay answers 200, no-op)."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smspay_app.db import session_scope
from smspay_app.providers.payments.base import PaymentGateway, SignatureError, WebhookEvent, get_payment_gateway
from smspay_app.services import payments
from smspay_app.settings import get_settings

log = logging.getLogger(__name__)
MAX_BODY = 512 * 1024


async def stripe_webhook(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "too large"}, status_code=413)
    gateway = get_payment_gateway(get_settings())
    try:
        event = gateway.parse_webhook(body, request.headers.get("stripe-signature"))
    except SignatureError as exc:
        log.warning("payment webhook refused: %s", exc)
        return JSONResponse({"error": "invalid signature"}, status_code=400)
    outcome = await run_in_threadpool(_apply, event, gateway)
    return JSONResponse({"received": True, "result": outcome.result})


def _apply(event: WebhookEvent, gateway: PaymentGateway) -> payments.WebhookOutcome:
    # the method used and the voucher, from the payment intent as live Stripe
    # gives them (asked before the transaction: no gateway call holds a lock)
    details = gateway.payment_details(event.object) if event.type.startswith("checkout.session.") else None
    with session_scope() as session:
        return payments.handle_event(session, event, source="stripe", gateway=gateway, details=details)


async def komoju_webhook(request: Request) -> Response:
    """``POST /webhooks/komoju``: the fallback gateway's KOMOJU events
    (``SMSPAY_PAYMENT_PROVIDER=komoju``), verified by the adapter
    (``X-Komoju-Signature``, event age) and applied through the neutral outcome."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "too large"}, status_code=413)
    settings = get_settings()
    if settings.payment_provider != "komoju":
        return JSONResponse({"error": "not configured"}, status_code=404)
    gateway = get_payment_gateway(settings)
    try:
        event = gateway.parse_webhook(body, request.headers.get("x-komoju-signature"))
    except SignatureError as exc:
        log.warning("KOMOJU webhook refused: %s", exc)
        return JSONResponse({"error": "invalid signature"}, status_code=400)

    def apply() -> payments.WebhookOutcome:
        with session_scope() as session:
            return payments.handle_event(session, event, source="komoju", gateway=gateway)

    outcome = await run_in_threadpool(apply)
    return JSONResponse({"received": True, "result": outcome.result})


routes = [
    Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
    Route("/webhooks/komoju", komoju_webhook, methods=["POST"]),
]
