"""Outbound webhooks: endpoints registered by admins, one delivery row per
event and subscribed endpoint (written in the same transaction as the
recipient event, from ``services.timeline.record``), signed in the Standard
Webhooks style and retried with backoff for more than three days by
``worker/outbound.py``.

Signature: headers ``webhook-id`` (the event id, the same on every try and
re-send, so receivers can deduplicate), ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``
where ``key`` is the base64-decoded part of the endpoint secret after ``whsec_``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.security import new_token
from smspay_app.models import AuditLog, Recipient, WebhookDelivery, WebhookEndpoint
from smspay_app.models.api import WEBHOOK_EVENT_TYPES
from smspay_app.services.auth import Caller

SECRET_PREFIX = "whsec_"
SIGNATURE_TOLERANCE_SECONDS = 300
# Waits after the 1st, 2nd, ... failed try; then every 12 hours until the
# first try is more than RETRY_FOR old (3 days): about 12 tries in all.
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
BACKOFF_TAIL = timedelta(hours=12)
RETRY_FOR = timedelta(days=3)
EXCERPT_CHARS = 500

# Funnel steps (first time reached) and timeline kinds that are webhook events.
STEP_EVENTS = {
    "delivered": "recipient.delivered",
    "failed": "recipient.failed",
    "clicked": "recipient.clicked",
    "verified": "recipient.verified",
    "paid": "recipient.paid",
    "expired": "recipient.expired",
    "opted_out": "recipient.opted_out",
}
KIND_EVENTS = {
    "sms_reply": "recipient.replied",
    "staff_refund": "payment.refunded",
    "payment_refunded": "payment.refunded",
}


class WebhookInvalid(Refused, ValueError):
    """A webhook endpoint refused: ``key`` is an i18n key, ``fields`` fill it."""


# ------------------------------------------------------------------ signing


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """Receiver side (what integrators do, also in the docs): check the
    timestamp tolerance and any ``v1`` signature in the header."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id", ""), h.get("webhook-timestamp", ""), h.get("webhook-signature", "")
    if not (msg_id and ts.isdigit() and sigs):
        return False
    if abs((now or time.time()) - int(ts)) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, msg_id, int(ts), body).split(",", 1)[1]
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in sigs.split())
    )


# ------------------------------------------------------------------ events


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") + "Z" if at else None


def recipient_event_type(recipient: Recipient, kind: str, step: str | None, step_changed: bool) -> str | None:
    """The webhook event a timeline record stands for, if any. A step counts
    when it is reached the first time and is the recipient's status now (a
    late "failed" after delivery is no event); ``paid`` always counts once."""
    if kind in KIND_EVENTS:
        return KIND_EVENTS[kind]
    if step in STEP_EVENTS and step_changed and (recipient.status == step or step == "paid"):
        return STEP_EVENTS[step]
    return None


def recipient_payload(recipient: Recipient, event_type: str, at: datetime, msg_id: str) -> dict[str, Any]:
    """No phone numbers, names or answers: ids, the business's own reference,
    status and step times."""
    return {
        "id": msg_id,
        "type": event_type,
        "timestamp": _iso(at),
        "data": {
            "recipient_id": recipient.id,
            "campaign_id": recipient.campaign_id,
            "reference": recipient.external_ref or None,
            "status": recipient.status,
            "amount_yen": recipient.amount_yen,
            "steps": {s: _iso(getattr(recipient, f"{s}_at")) for s in RECIPIENT_STEPS},
        },
    }


RECIPIENT_STEPS = (
    "queued",
    "sent",
    "delivered",
    "clicked",
    "verified",
    "read",
    "paid",
    "failed",
    "expired",
    "locked",
    "opted_out",
    "cancelled",
)


def enqueue_recipient_event(session: Session, recipient: Recipient, event_type: str, at: datetime) -> int:
    """Queue one delivery per active endpoint of the recipient's organisation
    subscribed to ``event_type`` (same transaction as the event). Returns how many."""
    with session.no_autoflush:
        endpoints = session.exec(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.organisation_id == recipient.organisation_id,
                WebhookEndpoint.active == True,  # noqa: E712
            )
        ).all()
    targets = [eid for eid, types in endpoints if event_type in types.split()]
    if not targets:
        return 0
    msg_id = "msg_" + new_token()
    body = json.dumps(recipient_payload(recipient, event_type, at, msg_id), ensure_ascii=False, separators=(",", ":"))
    now = utcnow()
    for endpoint_id in targets:
        session.add(
            WebhookDelivery(
                organisation_id=recipient.organisation_id,
                endpoint_id=endpoint_id,
                event_id=msg_id,
                event_type=event_type,
                payload=body,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(targets)


# ------------------------------------------------------------------ endpoints (admin)


def validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 500:
        raise WebhookInvalid("dev.error.bad_url")
    from smspay_app.settings import get_settings

    if parts.scheme != "https" and not get_settings().webhook_private_targets_allowed:
        raise WebhookInvalid("dev.error.https_required")
    return url


def _event_types(types: list[str] | str) -> list[str]:
    items = types.split() if isinstance(types, str) else list(types)
    unknown = [t for t in items if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise WebhookInvalid("dev.error.unknown_event", event=str(unknown[0])[:40])
    chosen = [t for t in WEBHOOK_EVENT_TYPES if t in items]
    if not chosen:
        raise WebhookInvalid("dev.error.no_events")
    return chosen


def _audit(session: Session, caller: Caller, action: str, target_id: int | None, **detail) -> None:
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action=action,
            target_type="webhook_endpoint",
            target_id=target_id,
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )


def create_endpoint(
    session: Session, caller: Caller, url: str, event_types: list[str] | str, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once)."""
    caller.require("settings.manage")
    url = validate_url(url)
    chosen = _event_types(event_types)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        organisation_id=caller.organisation_id,
        url=url,
        description=(description or "").strip()[:200],
        secret=secret,
        event_types=" ".join(chosen),
        created_by_user_id=caller.user_id,
    )
    session.add(endpoint)
    session.flush()
    _audit(session, caller, "webhook.create", endpoint.id, url=url, events=chosen)
    session.flush()
    return endpoint, secret


def _own_endpoint(session: Session, caller: Caller, endpoint_id: int) -> WebhookEndpoint | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organisation_id != caller.organisation_id:
        return None
    return endpoint


def set_active(session: Session, caller: Caller, endpoint_id: int, active: bool) -> bool:
    caller.require("settings.manage")
    endpoint = _own_endpoint(session, caller, endpoint_id)
    if endpoint is None:
        return False
    endpoint.active = bool(active)
    endpoint.disabled_at = None if active else utcnow()
    session.add(endpoint)
    _audit(session, caller, "webhook.enable" if active else "webhook.disable", endpoint.id)
    session.flush()
    return True


def list_endpoints(session: Session, caller: Caller) -> list[WebhookEndpoint]:
    caller.require("settings.manage")
    return list(
        session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organisation_id == caller.organisation_id)
            .order_by(WebhookEndpoint.id.desc())
        )
    )


def list_deliveries(
    session: Session, caller: Caller, *, endpoint_id: int | None = None, offset: int = 0, limit: int = 50
) -> list[WebhookDelivery]:
    caller.require("settings.manage")
    stmt = select(WebhookDelivery).where(WebhookDelivery.organisation_id == caller.organisation_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(session.exec(stmt.order_by(WebhookDelivery.id.desc()).offset(max(0, offset)).limit(min(limit, 200))))


def resend(session: Session, caller: Caller, delivery_id: int) -> WebhookDelivery | None:
    """Send a delivery's event again (a new delivery row, same event id and body)."""
    caller.require("settings.manage")
    original = session.get(WebhookDelivery, delivery_id)
    if original is None or original.organisation_id != caller.organisation_id:
        return None
    now = utcnow()
    copy = WebhookDelivery(
        organisation_id=original.organisation_id,
        endpoint_id=original.endpoint_id,
        event_id=original.event_id,
        event_type=original.event_type,
        payload=original.payload,
        next_attempt_at=now,
        created_at=now,
        resent_from_id=original.id,
    )
    session.add(copy)
    session.flush()
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="webhook.resend",
            target_type="webhook_delivery",
            target_id=original.id,
        )
    )
    session.flush()
    return copy


# ------------------------------------------------------------------ retry schedule


def next_attempt_after_failure(delivery: WebhookDelivery, now: datetime) -> datetime | None:
    """When to try again after ``delivery.attempts`` failed tries, or None to give
    up (the first try is more than ``RETRY_FOR`` old)."""
    first = delivery.created_at
    if now - first >= RETRY_FOR:
        return None
    n = delivery.attempts
    wait = BACKOFF[n - 1] if 1 <= n <= len(BACKOFF) else BACKOFF_TAIL
    return now + wait
