"""Stripe-style webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, f"{t}.{raw_body}")``. Verified on the raw body, with
a timestamp tolerance (300 s by default) against replays of old deliveries."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The webhook's signature is missing, malformed, wrong or too old."""


def compute(secret: str, payload: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_header(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={compute(secret, payload, ts)}"


def verify_header(
    secret: str,
    payload: bytes,
    header: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``payload``; returns the signed timestamp.
    Raises ``SignatureError`` when nothing valid is found or it is too old (or
    too far in the future). Several ``v1`` values are allowed (secret roll)."""
    if not header:
        raise SignatureError("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise SignatureError("bad timestamp") from exc
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed signature header")
    expected = compute(secret, payload, timestamp)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature mismatch")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside tolerance")
    return timestamp
