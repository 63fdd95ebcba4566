"""Twilio Messages API adapter (async httpx): create, fetch, list, plus Lookup v2
``line_type_intelligence`` for the carrier. Used for real Twilio and for the
built-in simulator, which speaks the same protocol.

Error mapping (``SmsError.kind``): HTTP 429 and 5xx with a response, and a
connection that could not be opened, are ``transient`` (Twilio did not take the
message); other 4xx are ``permanent`` (Twilio's error code is kept, e.g. 21211
invalid number, 21610 unsubscribed); a timeout or broken connection after the
request went out is ``unknown`` (it may have been accepted: reconcile, never
resend blindly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from smspay_app.providers.sms.base import CarrierInfo, ErrorKind, ProviderMessage, SendRequest, SmsError

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)

CARRIER_NAMES = {
    "docomo": "docomo",
    "ntt docomo": "docomo",
    "au": "au",
    "kddi": "au",
    "kddi au": "au",
    "softbank": "SoftBank",
    "softbank corp.": "SoftBank",
    "rakuten": "Rakuten",
    "rakuten mobile": "Rakuten",
}


def normalise_carrier(name: str) -> str:
    key = (name or "").strip().lower()
    if key in CARRIER_NAMES:
        return CARRIER_NAMES[key]
    for prefix, value in CARRIER_NAMES.items():
        if key.startswith(prefix):
            return value
    return (name or "").strip()


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def message_from_json(data: dict[str, Any]) -> ProviderMessage:
    return ProviderMessage(
        sid=data.get("sid", ""),
        status=data.get("status", ""),
        to=data.get("to", "") or "",
        sender=data.get("from", "") or "",
        body=data.get("body", "") or "",
        error_code="" if data.get("error_code") in (None, "") else str(data["error_code"]),
        error_message=data.get("error_message") or "",
        date_created=_parse_date(data.get("date_created")),
        num_segments=int(data.get("num_segments") or 0),
    )


class TwilioProvider:
    def __init__(
        self,
        *,
        api_base: str,
        account_sid: str,
        auth_token: str,
        lookup_base: str | None = None,
        name: str = "twilio",
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        client: httpx.AsyncClient | None = None,
    ):
        self.name = name
        self.api_base = api_base.rstrip("/")
        self.lookup_base = (lookup_base or api_base).rstrip("/")
        self.account_sid = account_sid
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            auth=(account_sid, auth_token),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client.request(method, url, **kwargs)
        except _NOT_SENT as exc:
            raise SmsError("transient", f"connection failed: {type(exc).__name__}") from exc
        except _MAYBE_SENT as exc:
            raise SmsError("unknown", f"no answer after sending: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SmsError("unknown", f"http error: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    async def send(self, request: SendRequest) -> ProviderMessage:
        form = {"To": request.to, "From": request.sender, "Body": request.body}
        if request.status_callback:
            form["StatusCallback"] = request.status_callback
        response = await self._request("POST", self.messages_url, data=form)
        return message_from_json(response.json())

    async def fetch(self, sid: str) -> ProviderMessage:
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages/{quote(sid)}.json"
        response = await self._request("GET", url)
        return message_from_json(response.json())

    async def list_messages(
        self, to: str, sent_after: datetime | None = None, limit: int = 200
    ) -> list[ProviderMessage]:
        """Messages to ``to``, newest first, created at or after ``sent_after``
        (minus a minute of clock slack). Pages through ``next_page_uri``."""
        floor = sent_after - timedelta(minutes=1) if sent_after else None
        params: dict[str, str] = {"To": to, "PageSize": "100"}
        if floor is not None:
            params["DateSent>"] = floor.strftime("%Y-%m-%d")  # day granularity; also filtered below
        url: str | None = self.messages_url
        out: list[ProviderMessage] = []
        while url and len(out) < limit:
            response = await self._request("GET", url, params=params)
            data = response.json()
            stop = False
            for item in data.get("messages", []):
                message = message_from_json(item)
                if floor is not None and message.date_created and message.date_created < floor:
                    stop = True
                    break
                out.append(message)
            next_uri = data.get("next_page_uri")
            if stop or not next_uri:
                break
            url = self.api_base + next_uri if next_uri.startswith("/") else next_uri
            params = {}
        return out[:limit]

    async def lookup_carrier(self, phone: str) -> CarrierInfo | None:
        url = f"{self.lookup_base}/v2/PhoneNumbers/{quote(phone)}"
        response = await self._request("GET", url, params={"Fields": "line_type_intelligence"})
        info = (response.json() or {}).get("line_type_intelligence") or {}
        if not info.get("carrier_name"):
            return None
        return CarrierInfo(
            carrier=normalise_carrier(info["carrier_name"]),
            line_type=info.get("type") or "",
            mobile_network_code=info.get("mobile_network_code") or "",
            raw=info,
        )


def _error_from_response(response: httpx.Response) -> SmsError:
    code, message = "", response.reason_phrase
    try:
        data = response.json()
        code = str(data.get("code") or "")
        message = data.get("message") or message
    except ValueError:
        pass
    status = response.status_code
    retry_after = None
    if response.headers.get("Retry-After"):
        try:
            retry_after = float(response.headers["Retry-After"])
        except ValueError:
            retry_after = None
    kind: ErrorKind = "transient" if status == 429 or status >= 500 else "permanent"
    return SmsError(kind, message, code=code or str(status), http_status=status, retry_after=retry_after)
