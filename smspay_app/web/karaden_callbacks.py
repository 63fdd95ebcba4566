"""``POST /webhooks/sms/{public_id}/result``: Karaden's delivery result
callback (SMS送達結果通知) for one Karaden connection.

Karaden's public documentation describes it: a POST with a JSON ``message``
object (``id``, ``status``, ``result``, ``sent_result``, ``carrier``,
``tags``...) and a ``Karaden-Version`` header, sent to the endpoint entered in
the Karaden service settings (サービス設定). It documents no signature, so
the body is never trusted: its ``id`` must be a message THIS connection sent
(``SendAttempt.sms_connection_id``), and the status and carrier applied are
those Karaden's ``detail`` answers, asked with the connection's own token. A
forged or foreign callback can at most make us ask Karaden once more; it
changes nothing by itself (200 ``unknown_message``). Polling stays the
fallback for callbacks that never come."""

from __future__ import annotations

import json
import logging

from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smspay_app.db import session_scope
from smspay_app.domain.clock import utcnow
from smspay_app.models import Recipient, SendAttempt
from smspay_app.providers.sms.base import ProviderMessage, SmsError
from smspay_app.services import connections, sending

log = logging.getLogger("smspay.webhooks.karaden")
MAX_BODY = 64 * 1024


def _attempt_of(public_id: str, message_id: str) -> tuple[int, connections.SmsSpec] | None | str:
    with session_scope() as session:
        connection = connections.connection_for_callback(session, public_id)
        if connection is None or connection.provider != "karaden":
            return "unknown_connection"
        attempt = session.exec(
            select(SendAttempt).where(
                SendAttempt.provider_message_id == message_id, SendAttempt.sms_connection_id == connection.id
            )
        ).first()
        if attempt is None or attempt.id is None:
            return None
        return attempt.id, connections.spec_of(connection)


def _apply(attempt_id: int, message: ProviderMessage) -> None:
    from smspay_app.worker.dispatcher import record_provider_carrier

    now = utcnow()
    with session_scope() as session:
        attempt = session.get(SendAttempt, attempt_id)
        if attempt is None:
            return
        sending.apply_provider_status(
            session, attempt, message.status, error_code=message.error_code, at=now, source="callback"
        )
        if message.carrier:
            record_provider_carrier(session, session.get(Recipient, attempt.recipient_id), message, now)


async def result_callback(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": "too large"}, status_code=413)
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return JSONResponse({"error": "not JSON"}, status_code=400)
    message_id = str(data.get("id") or "") if isinstance(data, dict) else ""
    if not message_id or (isinstance(data, dict) and data.get("object", "message") != "message"):
        return JSONResponse({"error": "not a message object"}, status_code=400)
    found = await run_in_threadpool(_attempt_of, request.path_params["public_id"], message_id)
    if found == "unknown_connection":
        return JSONResponse({"error": "unknown connection"}, status_code=404)
    if not isinstance(found, tuple):
        log.info("Karaden result for a message this connection did not send")
        return JSONResponse({"received": True, "result": "unknown_message"})
    attempt_id, spec = found
    provider = connections.build_sms_provider(spec, timeout=10.0)
    try:
        message = await provider.fetch(message_id)  # the truth, from Karaden itself
    except SmsError as exc:
        log.warning("Karaden detail for a result callback failed: %s", exc.code or exc.kind)
        return JSONResponse({"error": "provider unreachable"}, status_code=503)  # Karaden retries
    finally:
        await provider.aclose()
    await run_in_threadpool(_apply, attempt_id, message)
    return JSONResponse({"received": True, "result": "applied", "status": message.status})


routes: list[BaseRoute] = [Route("/webhooks/sms/{public_id}/result", result_callback, methods=["POST"])]
