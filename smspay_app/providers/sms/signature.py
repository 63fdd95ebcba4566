"""X-Twilio-Signature: HMAC-SHA1 (key = auth token) over the full URL followed by
each POST parameter's name and value, sorted by name, base64-encoded."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params.items()]
    return [(str(k), str(v)) for k, v in params]


def compute_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
) -> str:
    """The signature Twilio sends for a POST of ``params`` to ``url`` (repeated
    names are sorted by value too, as Twilio's own libraries do)."""
    payload = url + "".join(k + v for k, v in sorted(_pairs(params)))
    digest = hmac.new(auth_token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    signature: str | None,
) -> bool:
    if not signature:
        return False
    expected = compute_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.encode())
