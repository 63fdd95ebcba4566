"""Twilio Messages API adapter (async httpx): create, fetch, list, plus Lookup v2
``line_type_intelligence`` for the carrier. Used for real Twilio and for the
built-in simulator, which speaks the same protocol.

Error mapping (``SmsError.kind``): HTTP 429, and a connection that could not be
opened, are ``transient`` (Twilio did not take the message); other 4xx are
``permanent`` (Twilio's error code is kept, e.g. 21211 invalid number, 21610
unsubscribed); a 5xx answer to a *create*, a timeout or a broken connection
after the request went out are ``unknown``: Twilio's Messages API has no
idempotency key, so it may have accepted the message before failing to answer
(reconcile, never resend blindly). A 5xx to a read (fetch, list, lookup) is
``transient``. ``SmsError.account_level`` marks the errors that concern the
account or the sender rather than the message (``ACCOUNT_ERROR_CODES``).

Lists page through ``next_page_uri`` exactly as given (its query carries ``To``
and ``PageToken``); reconciliation lists by ``To`` without a ``DateSent``
filter (a message still queued has no ``date_sent`` and would be left out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from smspay_app.providers.sms.base import (
    CarrierInfo,
    ProviderMessage,
    SendRequest,
    SmsError,
    sms_error_from_response,
)

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


# Twilio error codes that concern the account or the sender, not one message:
# every other message would fail the same way until an operator fixes the
# setting. 20003 authentication failed (wrong or rotated auth token / SID),
# 20005 account not active (suspended or closed), 21212 invalid From number,
# 21606 From is not a message-capable Twilio number for this account,
# 21659 From is not a Twilio number (or a short code in the wrong country),
# 21660 From number belongs to another account.
ACCOUNT_ERROR_CODES = frozenset({"20003", "20005", "21212", "21606", "21659", "21660"})

TWILIO_API_HOST = "api.twilio.com"


def lookup_base_for(api_base: str) -> str:
    """Where Lookup v2 lives for a Messages API base: Twilio's own hosts
    (``https://api.twilio.com``, edge/region forms ``api.<edge>.<region>.twilio.com``)
    map to the Lookup API's host (``lookups...``); anything else (the simulator,
    a proxy) serves both."""
    parts = urlsplit(api_base.rstrip("/"))
    host = parts.hostname or ""
    if host == TWILIO_API_HOST or (host.startswith("api.") and host.endswith(".twilio.com")):
        return urlunsplit((parts.scheme, "lookups." + parts.netloc[len("api.") :], "", "", ""))
    return api_base.rstrip("/")


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
            raise _error_from_response(response, create=method == "POST")
        return response

    async def send(self, request: SendRequest) -> ProviderMessage:
        form = {"To": request.to, "From": request.sender, "Body": request.body}
        if request.status_callback:
            form["StatusCallback"] = request.status_callback
        response = await self._request("POST", self.messages_url, data=form)
        try:
            return message_from_json(response.json())
        except ValueError as exc:  # accepted (2xx) but unreadable: it may well be sent
            raise SmsError("unknown", "unreadable answer to a create") from exc

    async def fetch(self, sid: str) -> ProviderMessage:
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages/{quote(sid)}.json"
        response = await self._request("GET", url)
        return message_from_json(response.json())

    async def list_messages(
        self, to: str, sent_after: datetime | None = None, limit: int | None = None, *, page_size: int = 100
    ) -> list[ProviderMessage]:
        """Messages to ``to``, newest first, created at or after ``sent_after``
        (minus a minute of clock slack), with every page followed (``limit``: at
        most that many). No ``DateSent`` filter: Twilio matches it on
        ``date_sent``, which a message still queued does not have. Each
        ``next_page_uri`` is requested as given: its query carries ``To`` and
        ``PageToken``. Paging stops at the first page wholly older than the floor
        (the order is by date; a page holding any newer message is kept)."""
        floor = sent_after - timedelta(minutes=1) if sent_after else None
        url: str | None = self.messages_url
        params: dict[str, str] | None = {"To": to, "PageSize": str(page_size)}
        out: list[ProviderMessage] = []
        while url and (limit is None or len(out) < limit):
            response = await self._request("GET", url, params=params)
            data = response.json()
            fresh = 0
            for item in data.get("messages", []):
                message = message_from_json(item)
                if message.to and message.to != to:
                    continue  # never trust a page to be filtered
                if floor is not None and message.date_created and message.date_created < floor:
                    continue
                fresh += 1
                out.append(message)
            next_uri = data.get("next_page_uri")
            if not next_uri or (floor is not None and fresh == 0):
                break
            url = self.api_base + next_uri if next_uri.startswith("/") else next_uri
            params = None  # the next page's URI is complete
        return out if limit is None else out[:limit]

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


def _error_from_response(response: httpx.Response, *, create: bool = False) -> SmsError:
    """``create``: the answer to a message create, where a 5xx may come after
    Twilio accepted the message (``unknown``)."""
    return sms_error_from_response(
        response, create=create, account_level=lambda status, code: status == 401 or code in ACCOUNT_ERROR_CODES
    )
