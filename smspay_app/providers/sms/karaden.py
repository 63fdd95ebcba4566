"""Karaden (空電プッシュ) SMS API adapter (async httpx): a domestic direct route
to the Japanese carriers.

The contract is the official ``karaden-prg-python`` package (1.2.1): requests
go to ``{api_base}/{tenant_id}/messages`` with ``Authorization: Bearer
<token>`` and ``Karaden-Version: 2024-03-01``; create is a form POST
(``service_id``, ``to`` in domestic form ``090...``, ``body``, ``tags[]``,
``is_shorten``, ``scheduled_at``, ``limited_at`` ISO 8601), detail is
``GET /messages/{id}``, list ``GET /messages?to=&tag=&page=&per_page=`` (a
``list`` object with ``data`` and ``has_more``), cancel ``POST
/messages/{id}/cancel``. Errors are ``{"object": "error", "code", "message",
"errors"}`` with the SDK's statuses: 400 bad request, 401 unauthorized, 403
forbidden, 404 not found, 422 unprocessable entity, 429 too many requests.

Our attempt's idempotency key travels in ``tags``: after a crash the
dispatcher lists the number's messages and matches the key (the body's link
token matches too). Karaden has no idempotency key on create either, so a 5xx
to a create is an ``unknown`` outcome (reconcile, never resend blindly).

Statuses, mapped to the Twilio vocabulary the attempt machine reads
(``domain.attempts.PROVIDER_STATUS``): ``status`` ``waiting``/``processing``
→ ``queued``; ``result`` ``processing`` → ``sending``; ``result`` ``done``
with ``sent_result`` ``received`` → ``delivered``, with ``none`` → ``sent``,
with any other value (out of range, timeout, carrier error...) →
``undelivered``; ``result`` ``error``/``cancel``ed → ``failed``. The
``carrier`` comes from Karaden itself (after number portability too);
``charged_count_per_sent`` is the segment count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from smspay_app.providers.sms.base import (
    CarrierInfo,
    ProviderMessage,
    SendRequest,
    SmsError,
    sms_error_from_response,
)
from smspay_app.providers.sms.twilio import normalise_carrier

API_VERSION = "2024-03-01"
DEFAULT_API_BASE = "https://prg.karaden.jp/api"
# Karaden's documented body limits: docomo 660 characters, the others 670.
BODY_LIMITS = {"docomo": 660}
BODY_LIMIT = 670
JST = ZoneInfo("Asia/Tokyo")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
# 401 (token) and 403 (tenant / service not allowed) concern the account, not a message.
ACCOUNT_STATUSES = (401, 403)


def domestic(phone: str) -> str:
    """``+819012345678`` → ``09012345678`` (Karaden takes domestic numbers)."""
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if digits.startswith("+81"):
        return "0" + digits[3:]
    return digits.lstrip("+")


def international(phone: str) -> str:
    if phone.startswith("0") and not phone.startswith("00"):
        return "+81" + phone[1:]
    return phone


def body_limit(carrier: str) -> int:
    return BODY_LIMITS.get(carrier, BODY_LIMIT)


def _parse(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _iso(dt: datetime) -> str:
    """Naive UTC → ISO 8601 in Japan time, seconds (as the SDK sends it)."""
    return dt.replace(tzinfo=UTC).astimezone(JST).isoformat(timespec="seconds")


def our_status(status: str, result: str, sent_result: str) -> str:
    result = (result or "").lower()
    sent = (sent_result or "").lower()
    if result in ("error", "cancel", "canceled", "cancelled") or (status or "").lower() in ("cancel", "canceled"):
        return "failed"
    if result == "done":
        if sent == "received":
            return "delivered"
        if sent in ("", "none"):
            return "sent"
        return "undelivered"
    if result == "processing":
        return "sending"
    return "queued"


def message_from_json(data: dict[str, Any]) -> ProviderMessage:
    status = our_status(
        str(data.get("status") or ""), str(data.get("result") or ""), str(data.get("sent_result") or "")
    )
    error_code = ""
    if status in ("failed", "undelivered"):
        error_code = "karaden_" + str(data.get("sent_result") or data.get("result") or "error")
    tags = data.get("tags") or []
    return ProviderMessage(
        sid=str(data.get("id") or ""),
        status=status,
        to=international(str(data.get("to") or "")),
        body=str(data.get("body") or ""),
        error_code=error_code,
        date_created=_parse(data.get("created_at")),
        num_segments=int(data.get("charged_count_per_sent") or 0),
        carrier=normalise_carrier(str(data.get("carrier") or "")) if data.get("carrier") else "",
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
    )


class KaradenProvider:
    def __init__(
        self,
        *,
        tenant_id: str,
        token: str,
        service_id: str | int,
        api_base: str = DEFAULT_API_BASE,
        name: str = "karaden",
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        client: httpx.AsyncClient | None = None,
    ):
        self.name = name
        self.base = f"{(api_base or DEFAULT_API_BASE).rstrip('/')}/{tenant_id}"
        self.service_id = str(service_id)
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}", "Karaden-Version": API_VERSION},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, self.base + path, **kwargs)
        except _NOT_SENT as exc:
            raise SmsError("transient", f"connection failed: {type(exc).__name__}") from exc
        except _MAYBE_SENT as exc:
            raise SmsError("unknown", f"no answer after sending: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SmsError("unknown", f"http error: {type(exc).__name__}") from exc
        create = method == "POST" and path == "/messages"
        if response.status_code >= 400:
            raise _error_from_response(response, create=create)
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise SmsError("unknown" if create else "transient", "unreadable answer") from exc
        return data

    async def send(self, request: SendRequest) -> ProviderMessage:
        form: dict[str, Any] = {
            "service_id": self.service_id,
            "to": domestic(request.to),
            "body": request.body,
            "is_shorten": "false",  # our link is already short and must stay ours
        }
        if request.reference:
            form["tags[]"] = [request.reference]
        if request.limited_at is not None:
            form["limited_at"] = _iso(request.limited_at)
        return message_from_json(await self._request("POST", "/messages", data=form))

    async def fetch(self, sid: str) -> ProviderMessage:
        return message_from_json(await self._request("GET", f"/messages/{quote(sid)}"))

    async def cancel(self, sid: str) -> ProviderMessage:
        return message_from_json(await self._request("POST", f"/messages/{quote(sid)}/cancel"))

    async def list_messages(
        self,
        to: str,
        sent_after: datetime | None = None,
        limit: int | None = None,
        *,
        tag: str | None = None,
        per_page: int = 100,
    ) -> list[ProviderMessage]:
        """Messages to ``to`` (optionally carrying ``tag``), every page
        followed while ``has_more``, created at or after ``sent_after`` minus a
        minute of clock slack."""
        floor = sent_after - timedelta(minutes=1) if sent_after else None
        params: dict[str, Any] = {"to": domestic(to), "per_page": per_page}
        if self.service_id:
            params["service_id"] = self.service_id
        if tag:
            params["tag"] = tag
        if floor is not None:
            params["start_at"] = _iso(floor)
        out: list[ProviderMessage] = []
        page = 1
        while limit is None or len(out) < limit:
            data = await self._request("GET", "/messages", params={**params, "page": page})
            for item in data.get("data") or []:
                message = message_from_json(item)
                if message.to and message.to != to:
                    continue  # never trust a page to be filtered
                if floor is not None and message.date_created and message.date_created < floor:
                    continue
                out.append(message)
            if not data.get("has_more"):
                break
            page += 1
        return out if limit is None else out[:limit]

    async def lookup_carrier(self, phone: str) -> CarrierInfo | None:  # noqa: ARG002
        """Karaden has no lookup: the carrier arrives on the message itself."""
        return None


def _error_from_response(response: httpx.Response, *, create: bool = False) -> SmsError:
    return sms_error_from_response(
        response, create=create, account_level=lambda status, _code: status in ACCOUNT_STATUSES
    )
