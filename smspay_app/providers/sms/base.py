"""The SMS provider interface and the factory that picks one from settings.

Both built-in choices speak Twilio's Messages API: ``simulator`` (the built-in
Twilio-compatible simulator, mounted at ``/sim/twilio`` or run on its own) and
``twilio`` (the real service). The production adapter is therefore the code under
test either way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from smspay_app.settings import Settings, get_settings

# Twilio message statuses, and what they are for us.
FINAL_STATUSES = ("delivered", "undelivered", "failed")
ACCEPTED_STATUSES = ("accepted", "scheduled", "queued", "sending")

ErrorKind = Literal["permanent", "transient", "unknown"]


@dataclass
class SendRequest:
    to: str
    sender: str
    body: str
    status_callback: str | None = None
    reference: str = ""  # our attempt's idempotency key (also in status_callback ?ref=)
    # The latest moment the provider may still send it (naive UTC; Karaden's
    # ``limited_at``): the start of the organisation's next quiet hours.
    limited_at: datetime | None = None


@dataclass
class ProviderMessage:
    sid: str
    status: str
    to: str = ""
    sender: str = ""
    body: str = ""
    error_code: str = ""
    error_message: str = ""
    date_created: datetime | None = None  # naive UTC
    num_segments: int = 0
    carrier: str = ""  # known from the provider itself (Karaden), normalised
    tags: list[str] = field(default_factory=list)  # Karaden: our attempt's key


@dataclass
class CarrierInfo:
    carrier: str  # normalised: docomo | au | SoftBank | Rakuten | other name
    line_type: str = ""  # mobile | landline | ...
    mobile_network_code: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SmsCapabilities:
    """What a provider's route carries for one destination country.

    ``two_way``: replies (and so opt-out by reply) reach us; ``delivery_receipts``:
    status callbacks / final statuses; ``carrier``: the carrier is known from the
    provider; ``lookup``: a carrier lookup API exists. ``two_way_note``: an i18n
    key saying why replies do not arrive ("" when they do), for the UI and API."""

    two_way: bool
    delivery_receipts: bool = True
    carrier: bool = False
    lookup: bool = False
    two_way_note: str = ""


def capabilities_for(provider_name: str, country: str = "JP") -> SmsCapabilities:
    """The one place that says what each SMS provider supports (issue 11 refines it).

    Twilio's guidance for Japan: two-way SMS is not supported there, so replies and
    opt-out by reply never arrive for Japanese numbers. The built-in simulator stands
    in for a provider that carries replies (the demo shows them)."""
    if provider_name == "twilio":
        # Status callbacks everywhere; the carrier only through Lookup v2
        # (line_type_intelligence, paid), never on the message itself.
        japan = country.upper() == "JP"
        return SmsCapabilities(
            two_way=not japan,
            delivery_receipts=True,
            carrier=False,
            lookup=True,
            two_way_note="sms.capability.no_replies.twilio_jp" if japan else "",
        )
    if provider_name == "karaden":
        # Domestic direct route (国内直収): delivery results and the carrier
        # come on the message itself (detail / list); no lookup API. Replies:
        # the SDK 1.2.1 (API 2024-03-01) has no inbound-message resource, so
        # none reach us through it.
        return SmsCapabilities(
            two_way=False,
            delivery_receipts=True,
            carrier=True,
            lookup=False,
            two_way_note="sms.capability.no_replies.karaden",
        )
    return SmsCapabilities(two_way=True, delivery_receipts=True, carrier=True, lookup=True)


class SmsError(Exception):
    """A provider failure. ``kind``:

    - ``transient``: the provider certainly did not take the message (HTTP 429,
      a 5xx to a read, connection refused before anything was sent): retry;
    - ``permanent``: it refused the message for good (bad number, blocked...);
    - ``unknown``: the request may have reached it (a 5xx to a create, timeout
      after sending, broken connection): never retry blindly, reconcile.

    ``account_level``: the error is about the account or the sender (bad
    credentials, suspended account, invalid sender), not this message: every
    message would fail alike until an operator fixes the setting.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        code: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
        account_level: bool = False,
    ):
        super().__init__(message)
        self.account_level = account_level
        self.kind = kind
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after


def sms_error_from_response(
    response: httpx.Response, *, create: bool, account_level: Callable[[int, str], bool]
) -> SmsError:
    """The one mapping of a provider's HTTP error answer to an ``SmsError``
    (Twilio's and Karaden's adapters): the JSON body's ``code``/``message``
    (the code defaults to the HTTP status), ``Retry-After`` in seconds, and the
    kind: a 5xx to a message create is ``unknown`` (the provider may have taken
    it: reconcile), any other 5xx and 429 ``transient``, the rest ``permanent``.
    ``account_level(status, code)``: the provider's account-or-sender errors."""
    code, message = "", response.reason_phrase
    try:
        data = response.json()
        code = str(data.get("code") or "")
        message = data.get("message") or message
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    retry_after = None
    if response.headers.get("Retry-After"):
        try:
            retry_after = float(response.headers["Retry-After"])
        except ValueError:
            retry_after = None
    kind: ErrorKind
    if status >= 500:
        kind = "unknown" if create else "transient"
    elif status == 429:
        kind = "transient"
    else:
        kind = "permanent"
    code = code or str(status)
    return SmsError(
        kind,
        str(message),
        code=code,
        http_status=status,
        retry_after=retry_after,
        account_level=account_level(status, code),
    )


class SmsProvider(Protocol):
    name: str

    async def send(self, request: SendRequest) -> ProviderMessage: ...

    async def fetch(self, sid: str) -> ProviderMessage: ...

    async def list_messages(
        self, to: str, sent_after: datetime | None = None, limit: int | None = None
    ) -> list[ProviderMessage]: ...

    async def lookup_carrier(self, phone: str) -> CarrierInfo | None: ...

    async def aclose(self) -> None: ...


def get_sms_provider(settings: Settings | None = None, **kwargs: Any) -> SmsProvider:
    """The provider chosen by ``settings.sms_provider``. Extra keyword arguments go
    to the adapter (``timeout``, ``max_connections``)."""
    from smspay_app.providers.sms.twilio import TwilioProvider, lookup_base_for

    settings = settings or get_settings()
    if settings.sms_provider == "twilio":
        api_base = settings.twilio_api_base or "https://api.twilio.com"
        return TwilioProvider(
            api_base=api_base,
            lookup_base=lookup_base_for(api_base),
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            name="twilio",
            **kwargs,
        )
    return TwilioProvider(
        api_base=settings.sms_api_base,
        lookup_base=lookup_base_for(settings.sms_api_base),
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        name="simulator",
        **kwargs,
    )
