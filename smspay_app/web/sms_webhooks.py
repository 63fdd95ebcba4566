"""Twilio webhooks: delivery status callbacks and inbound replies.

Both are verified with ``X-Twilio-Signature`` over the public URL (rebuilt from
``settings.public_base_url``, so a proxy in front does not break it) and the
POST parameters: HMAC-SHA1 keyed with the auth token, the scheme Twilio uses for
form-encoded webhooks (the only kind these endpoints receive). Unsigned and
forged requests get 403, are logged (without personal data) and change nothing.
A delivery seen before (same ``I-Twilio-Idempotency-Token``, or the very same
signed request again) is Twilio retrying: it gets 200 and changes nothing, so
Twilio stops retrying.

Each organisation's own SMS connection (``services.connections``) has its own
URLs, ``/webhooks/sms/{public_id}/status`` and ``.../inbound``: a callback there
is verified with *that* connection's credentials (Twilio signs with the
account's auth token) and applied only to that organisation's data, so a
request signed for one connection and posted to another's URL is refused (403)
and never touches the other organisation. The ``/webhooks/twilio/...`` URLs
serve the environment's fallback account."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from smspay_app.db import get_engine
from smspay_app.domain.clock import utcnow
from smspay_app.models import SendAttempt, WebhookEvent
from smspay_app.providers.sms.signature import verify_signature
from smspay_app.services import replies, sending
from smspay_app.settings import get_settings

log = logging.getLogger("smspay.webhooks.twilio")

STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"


def _public_url(request: Request) -> str:
    url = get_settings().public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def _verified(request: Request, auth_token: str | None = None) -> tuple[dict[str, str], str] | Response:
    """The form parameters and the event id, or a 403 response. ``auth_token``:
    the connection's (default: the environment's account)."""
    form = await request.form()
    params = [(k, str(v)) for k, v in form.multi_items()]
    signature = request.headers.get("x-twilio-signature")
    url = _public_url(request)
    token = get_settings().twilio_auth_token if auth_token is None else auth_token
    if not token or not verify_signature(token, url, params, signature):
        log.warning("twilio webhook refused: %s signature on %s", "bad" if signature else "missing", request.url.path)
        return PlainTextResponse("forbidden", status_code=403)
    token = request.headers.get("i-twilio-idempotency-token")
    event_id = token or "sig:" + hashlib.sha256((signature or "").encode() + url.encode()).hexdigest()
    return dict(params), event_id[:200]


def _remember(session: Session, event_id: str) -> bool:
    """Record the event id; False when it was seen before (a replay)."""
    session.add(WebhookEvent(source="twilio", event_id=event_id, received_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


def _replayed(request: Request, content: str = "", media_type: str | None = None) -> Response:
    """A retried delivery of an event already applied: acknowledged, nothing changes."""
    log.info("twilio webhook: repeated delivery on %s acknowledged, ignored", request.url.path)
    return Response(content, status_code=200, media_type=media_type)


def process_status(event_id: str, params: dict[str, str], ref: str | None, *, connection_id: int | None = None) -> str:
    """Apply one verified status callback. Returns ``ok``, ``replay`` or
    ``unknown``. ``connection_id``: it came through that connection's URL:
    only attempts sent through it are candidates."""
    with Session(get_engine(), expire_on_commit=False) as session:
        if not _remember(session, event_id):
            return "replay"
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = params.get("MessageStatus") or params.get("SmsStatus") or ""
        attempt = None
        scope = select(SendAttempt)
        if connection_id is not None:
            scope = scope.where(SendAttempt.sms_connection_id == connection_id)
        if sid:
            attempt = session.exec(scope.where(SendAttempt.provider_message_id == sid)).first()
        if attempt is None and ref:
            attempt = session.exec(scope.where(SendAttempt.idempotency_key == ref)).first()
        if attempt is None:
            session.commit()
            return "unknown"
        sending.apply_provider_status(
            session,
            attempt,
            status,
            error_code=params.get("ErrorCode", ""),
            provider_message_id=sid,
            at=utcnow(),
            source="callback",
        )
        session.commit()
        return "ok"


async def status_callback(request: Request) -> Response:
    checked = await _verified(request)
    if isinstance(checked, Response):
        return checked
    params, event_id = checked
    result = await run_in_threadpool(process_status, event_id, params, request.query_params.get("ref"))
    if result == "replay":
        return _replayed(request)
    return Response(status_code=204 if result == "ok" else 200)


def process_inbound(event_id: str, params: dict[str, str], *, organisation_id: int | None = None) -> str:
    with Session(get_engine(), expire_on_commit=False) as session:
        if not _remember(session, event_id):
            return "replay"
        message = replies.handle_inbound(
            session,
            from_phone=params.get("From", ""),
            to_phone=params.get("To", ""),
            body=params.get("Body", ""),
            provider_message_id=params.get("MessageSid") or params.get("SmsMessageSid"),
            organisation_id=organisation_id,
        )
        session.commit()
        confirmation = replies.prepare_opt_out_confirmation(session, message) if message is not None else None
        session.commit()
    if confirmation is not None:
        _send_confirmation(*confirmation)
    return "ok"


def _send_confirmation(recipient, text: str) -> None:
    """The opt-out confirmation, after the opt-out is committed; a provider
    failure leaves the opt-out as it is (logged)."""
    from smspay_app.services import journey

    try:
        journey.send_otp_sms(recipient, text)
    except Exception as exc:  # noqa: BLE001  the provider failed
        log.warning("opt-out confirmation SMS failed: %s", type(exc).__name__)


async def inbound(request: Request) -> Response:
    checked = await _verified(request)
    if isinstance(checked, Response):
        return checked
    params, event_id = checked
    result = await run_in_threadpool(process_inbound, event_id, params)
    if result == "replay":
        return _replayed(request, "<Response/>", "text/xml")
    return Response("<Response/>", media_type="text/xml")


# ------------------------------------------------ per-connection callbacks


def _connection_secret(public_id: str) -> tuple[int, int, str] | None:
    """(connection id, organisation id, the secret its callbacks are signed
    with), or None for an unknown connection or a provider without callbacks here."""
    from smspay_app.services import connections

    with Session(get_engine()) as session:
        connection = connections.connection_for_callback(session, public_id)
        if connection is None or connection.provider not in connections.CALLBACK_PROVIDERS or connection.id is None:
            return None
        return connection.id, connection.organisation_id, connections.spec_of(connection).secret


async def connection_status(request: Request) -> Response:
    found = await run_in_threadpool(_connection_secret, request.path_params["public_id"])
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    connection_id, _, secret = found
    checked = await _verified(request, secret)
    if isinstance(checked, Response):
        return checked
    params, event_id = checked
    result = await run_in_threadpool(
        lambda: process_status(
            f"{connection_id}:{event_id}", params, request.query_params.get("ref"), connection_id=connection_id
        )
    )
    if result == "replay":
        return _replayed(request)
    return Response(status_code=204 if result == "ok" else 200)


async def connection_inbound(request: Request) -> Response:
    found = await run_in_threadpool(_connection_secret, request.path_params["public_id"])
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    connection_id, organisation_id, secret = found
    checked = await _verified(request, secret)
    if isinstance(checked, Response):
        return checked
    params, event_id = checked
    result = await run_in_threadpool(
        lambda: process_inbound(f"{connection_id}:{event_id}", params, organisation_id=organisation_id)
    )
    if result == "replay":
        return _replayed(request, "<Response/>", "text/xml")
    return Response("<Response/>", media_type="text/xml")


routes: list[BaseRoute] = [
    Route(STATUS_PATH, status_callback, methods=["POST"]),
    Route(INBOUND_PATH, inbound, methods=["POST"]),
    Route("/webhooks/sms/{public_id}/status", connection_status, methods=["POST"]),
    Route("/webhooks/sms/{public_id}/inbound", connection_inbound, methods=["POST"]),
]
