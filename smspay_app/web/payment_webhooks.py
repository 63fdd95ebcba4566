"""The payment gateways' signed events.

- ``POST /webhooks/stripe``: the environment's account (Stripe or the built-in
  sandbox; a single-business install); ``POST /webhooks/komoju`` the same for
  ``SMSPAY_PAYMENT_PROVIDER=komoju``.
- ``POST /webhooks/payments/{public_id}``: one payment connection's, verified
  with THAT connection's webhook secret and applied only to the payments made
  through it (``connections.payment_belongs``): an event signed for another
  connection is refused with 400 and changes nothing.

The signature is checked on the raw body with a 300 s tolerance before
anything is parsed; a bad or stale signature answers 400 and changes nothing;
event ids are deduplicated (a replay answers 200, no-op)."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smspay_app.db import session_scope
from smspay_app.providers.payments.base import GatewayError, PaymentGateway, SignatureError, WebhookEvent
from smspay_app.services import connections, payments

log = logging.getLogger(__name__)
MAX_BODY = 512 * 1024


async def stripe_webhook(request: Request) -> Response:
    spec = connections.fallback_payment_spec()
    return await _receive(request, spec, source="stripe")


async def connection_webhook(request: Request) -> Response:
    public_id = request.path_params["public_id"]
    spec = await run_in_threadpool(_spec_for, public_id)
    if spec is None:
        return JSONResponse({"error": "unknown connection"}, status_code=404)
    return await _receive(request, spec, source=f"payment:{public_id}")


def _spec_for(public_id: str) -> connections.PaymentSpec | None:
    with session_scope() as session:
        connection = connections.payment_connection_by_public_id(session, public_id)
        return connections.payment_spec_of(connection) if connection is not None else None


async def _receive(request: Request, spec: connections.PaymentSpec, *, source: str) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "too large"}, status_code=413)
    try:
        gateway = connections.build_payment_gateway(spec)
    except GatewayError:
        return JSONResponse({"error": "no adapter for this connection's provider"}, status_code=400)
    try:
        event = gateway.parse_webhook(body, request.headers.get(connections.signature_header_for(spec.provider)))
    except SignatureError as exc:
        log.warning("payment webhook refused (%s): %s", source, exc)
        detail = (
            f"{exc}: this URL takes only events signed with its own connection's secret"
            if spec.connection_id
            else str(exc)
        )
        return JSONResponse({"error": "invalid signature", "detail": detail}, status_code=400)
    outcome = await run_in_threadpool(_apply, event, gateway, spec, source)
    return JSONResponse({"received": True, "result": outcome.result})


def _apply(
    event: WebhookEvent, gateway: PaymentGateway, spec: connections.PaymentSpec, source: str
) -> payments.WebhookOutcome:
    # the method used and the voucher, from the payment intent as live Stripe
    # gives them (asked before the transaction: no gateway call holds a lock)
    details = gateway.payment_details(event.object) if event.type.startswith("checkout.session.") else None
    with session_scope() as session:
        return payments.handle_event(session, event, source=source, gateway=gateway, details=details, route=spec)


async def komoju_webhook(request: Request) -> Response:
    """``POST /webhooks/komoju``: the environment's account when it is KOMOJU
    (``SMSPAY_PAYMENT_PROVIDER=komoju``), verified by the adapter
    (``X-Komoju-Signature``, event age) and applied through the neutral outcome."""
    spec = connections.fallback_payment_spec()
    if spec.provider != "komoju":
        return JSONResponse({"error": "not configured"}, status_code=404)
    return await _receive(request, spec, source="komoju")


routes = [
    Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
    Route("/webhooks/komoju", komoju_webhook, methods=["POST"]),
    Route("/webhooks/payments/{public_id}", connection_webhook, methods=["POST"]),
]
