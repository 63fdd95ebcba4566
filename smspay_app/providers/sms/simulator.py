"""A Twilio-compatible SMS simulator: a real HTTP service (Starlette).

Mounted in the web app at ``/sim/twilio`` by default, or on its own::

    python -m smspay_app.providers.sms.simulator --port 8901

Speaks the parts of Twilio's API the adapter uses (Messages create / fetch /
list, Lookup v2 ``line_type_intelligence``) and posts StatusCallback webhooks
signed with ``X-Twilio-Signature`` (queued -> sent -> delivered, or failed /
undelivered). Extra endpoints for people and tests:

- ``GET /inbox`` (all phones) and ``GET /inbox/{phone}`` (what that phone
  received, newest first, links clickable, with a reply form);
- ``POST /_reply`` JSON ``{"from": phone, "body": text}``: a phone replies
  (posted, signed, to the inbound webhook);
- ``GET|POST /_control``: behaviour (latency, failure share, 429 throttling,
  500 after accepting, late / duplicate / reordered callbacks...; ``auth_token``
  rotates the account's token, as an operator would in Twilio's console);
  ``POST /_reset``;
- ``GET /_stats``: how many times each message was asked to be sent.

State lives in a ``SimStore`` (providers/sim_store.py): private to the process
by default (``create_app()``), shared by every process of an installation when
mounted in the app (and with ``--store PATH`` / ``--workers N`` alone), so the
inbox and the API answer the same on every worker. A (re)start applies the
configured auth token and a default ``_control``; messages stay until
``/_reset``. ``max_per_second`` counts per process."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from smspay_app.domain.formatting import people_datetime
from smspay_app.domain.sms_text import analyze_sms
from smspay_app.i18n import CATALOG, chosen_language, t
from smspay_app.providers.sim_store import Codec, SimStore, Table
from smspay_app.providers.sms.signature import compute_signature

CARRIERS = ("docomo", "au", "SoftBank", "Rakuten")
# Original carrier by the digit after 070/080/090 (a simplification of the
# real allocation tables, enough to exercise number portability).
_PREFIX_CARRIER = {
    "0": "docomo",
    "1": "docomo",
    "2": "docomo",
    "3": "au",
    "4": "au",
    "5": "au",
    "6": "SoftBank",
    "7": "SoftBank",
    "8": "SoftBank",
    "9": "Rakuten",
}
MAX_BODY = 1600


def carrier_for(phone: str) -> tuple[str, str, bool]:
    """(carrier, original carrier of the prefix, ported) for a phone number,
    deterministic: one number in eight is ported away from its prefix's carrier."""
    digits = re.sub(r"\D", "", phone)
    if not digits.startswith("81") or len(digits) < 5 or digits[2] not in "789":
        return "other", "other", False
    original = _PREFIX_CARRIER[digits[4]]
    h = int(hashlib.sha256(phone.encode()).hexdigest(), 16)
    if h % 8 == 0:
        others = [c for c in CARRIERS if c != original]
        return others[(h >> 3) % len(others)], original, True
    return original, original, False


@dataclass
class SimConfig:
    latency_ms: float = 0.0  # answer a create this much later (after accepting it)
    error_rate: float = 0.0  # share of creates answered 500 (not accepted)
    accept_error_rate: float = 0.0  # share of creates accepted, then answered 500 anyway
    throttle_rate: float = 0.0  # share of creates answered 429 (not accepted)
    max_per_second: float = 0.0  # creates above this rate answered 429 (0: no cap)
    fail_rate: float = 0.0  # share of accepted messages that end failed/undelivered
    callbacks: bool = True
    callback_delay_ms: float = 0.0  # wait before each callback ("late")
    callback_duplicate_rate: float = 0.0  # share of callbacks posted twice
    callback_reorder: bool = False  # post a message's callbacks in random order
    progress_delay_ms: float = 0.0  # time between queued -> sent -> final
    inbound_url: str = ""  # where replies are posted
    seed: int | None = None


@dataclass
class SimMessage:
    sid: str
    to: str
    sender: str
    body: str
    status: str
    date_created: datetime
    date_sent: datetime | None = None  # when it left for the carrier (Twilio lists filter on it)
    status_callback: str = ""
    error_code: str = ""
    final: str = "delivered"
    direction: str = "outbound-api"


def _encode_message(m: SimMessage) -> dict[str, Any]:
    return {
        "sid": m.sid,
        "to": m.to,
        "sender": m.sender,
        "body": m.body,
        "status": m.status,
        "date_created": m.date_created.isoformat(),
        "date_sent": m.date_sent.isoformat() if m.date_sent else None,
        "status_callback": m.status_callback,
        "error_code": m.error_code,
        "final": m.final,
        "direction": m.direction,
    }


def _decode_message(d: dict[str, Any]) -> SimMessage:
    d = dict(d)
    d["date_created"] = datetime.fromisoformat(d["date_created"])
    d["date_sent"] = datetime.fromisoformat(d["date_sent"]) if d["date_sent"] else None
    return SimMessage(**d)


_MESSAGE = Codec(_encode_message, _decode_message)


class _Order:
    """The messages' order (the store keeps insertion order): ``order.append``
    of a stored message is a no-op, iteration gives the sids oldest first."""

    def __init__(self, messages: Any) -> None:
        self._messages = messages

    def append(self, sid: str) -> None:
        pass

    def __iter__(self) -> Any:
        return iter(self._messages.keys())

    def __reversed__(self) -> Any:
        return iter(self._messages.keys(newest_first=True))

    def __len__(self) -> int:
        return len(self._messages)


class SimState:
    """The simulator's state in its store (see the module docstring)."""

    def __init__(self, account_sid: str, auth_token: str, store: SimStore | None = None, inbound_url: str = "") -> None:
        self.account_sid = account_sid
        self.store = store or SimStore()
        self.messages = self.store.table("twilio.messages", _MESSAGE, tag=lambda m: m.to)
        self.order = _Order(self.messages)
        self.replies: Table[dict[str, Any]] = self.store.table("twilio.replies")
        self._settings: Table[Any] = self.store.table("twilio.settings")
        self._cached: tuple[int, SimConfig, str] | None = None  # (store's data_version, config, token)
        self._settings["auth_token"] = auth_token
        self.config = SimConfig(inbound_url=inbound_url)
        self._window: list[float] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._rng = random.Random()

    def _account(self) -> tuple[SimConfig, str]:
        """Config and token, read again only when another process committed
        something (SQLite's data_version) or this one changed them."""
        version = self.store.data_version()
        cached = self._cached
        if cached is None or cached[0] != version:
            cached = self._cached = (version, SimConfig(**self._settings["config"]), str(self._settings["auth_token"]))
        return cached[1], cached[2]

    @property
    def config(self) -> SimConfig:
        return replace(self._account()[0])

    @config.setter
    def config(self, value: SimConfig) -> None:
        self._settings["config"] = asdict(value)
        self._cached = None

    @property
    def auth_token(self) -> str:
        return self._account()[1]

    @auth_token.setter
    def auth_token(self, value: str) -> None:
        self._settings["auth_token"] = value
        self._cached = None

    def count(self, name: str, n: int = 1) -> None:
        self.store.add(f"twilio.n.{name}", n)

    def counted(self, name: str) -> int:
        return self.store.count(f"twilio.n.{name}")

    def reset(self) -> None:
        with self.store.lock():
            self.messages.clear()
            self.replies.clear()
            self.store.drop("twilio.n.")
        self._window.clear()

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        return self._client


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rfc2822(dt: datetime) -> str:
    return format_datetime(dt.replace(tzinfo=UTC), usegmt=True)


def _twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
        headers=headers,
    )


def _message_json(state: SimState, m: SimMessage) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{state.account_sid}/Messages/{m.sid}"
    return {
        "sid": m.sid,
        "account_sid": state.account_sid,
        "messaging_service_sid": None,
        "to": m.to,
        "from": m.sender,
        "body": m.body,
        "status": m.status,
        "direction": m.direction,
        "num_segments": str(analyze_sms(m.body).segments),  # GSM-7 or UCS-2, as Twilio counts
        "num_media": "0",
        "error_code": int(m.error_code) if m.error_code else None,
        "error_message": "Unknown error" if m.error_code else None,
        "date_created": _rfc2822(m.date_created),
        "date_updated": _rfc2822(_now()),
        "date_sent": _rfc2822(m.date_sent) if m.date_sent else None,
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "JPY",
        "uri": base + ".json",
        "subresource_uris": {"media": base + "/Media.json", "feedback": base + "/Feedback.json"},
    }


def _sent_key(m: SimMessage, day_only: bool) -> datetime | None:
    if m.date_sent is None:
        return None
    return datetime.combine(m.date_sent.date(), datetime.min.time()) if day_only else m.date_sent


def _date_filter(value: str) -> datetime | None:
    """A ``DateSent`` filter value: ``YYYY-MM-DD`` (a day) or the ISO 8601 form
    the official SDK sends (``2026-11-30T09:15:00Z``). None when malformed."""
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def create_app(
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    inbound_url: str | None = None,
    store: SimStore | None = None,
) -> Starlette:
    """The simulator app. Defaults come from the settings (the same account and
    auth token the adapter and the webhook use); ``store``: where its state
    lives (default: private to this process)."""
    if account_sid is None or auth_token is None or inbound_url is None:
        from smspay_app.settings import get_settings

        settings = get_settings()
        account_sid = account_sid or settings.twilio_account_sid
        auth_token = auth_token or settings.twilio_auth_token
        if inbound_url is None:
            inbound_url = f"{settings.public_base_url}/webhooks/twilio/inbound"
    state = SimState(account_sid, auth_token, store, inbound_url)

    def authorised(request: Request) -> bool:
        import base64

        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:  # noqa: BLE001 - malformed header
            return False
        return user == state.account_sid and password == state.auth_token

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        state._tasks.add(task)
        task.add_done_callback(state._tasks.discard)

    async def post_signed(url: str, params: dict[str, str], event_token: str = "") -> int:
        """Post ``params`` signed; a retried delivery of one event (a duplicate)
        carries the same ``I-Twilio-Idempotency-Token``, as Twilio's retries do."""
        signature = compute_signature(state.auth_token, url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": event_token or uuid.uuid4().hex,
            "User-Agent": "TwilioProxy/1.1",
        }
        try:
            response = await state.client().post(url, data=params, headers=headers)
            state.count("callbacks_posted")
            return response.status_code
        except httpx.HTTPError:
            state.count("callback_errors")
            return 0

    async def progress(m: SimMessage, cfg: SimConfig) -> None:
        """Move the message through its statuses (at once without a
        ``progress_delay_ms``: create stored it final), posting callbacks."""
        steps = ["queued", "sent", m.final]
        events: list[str] = []
        for status in steps:
            if cfg.progress_delay_ms and status != "queued":
                await asyncio.sleep(cfg.progress_delay_ms / 1000)
                m.status = status
                if status == "sent":
                    m.date_sent = _now()
                state.messages[m.sid] = m
            events.append(status)
        if not (cfg.callbacks and m.status_callback):
            return
        posts: list[tuple[str, str]] = []
        for status in events:
            token = uuid.uuid4().hex
            posts.append((status, token))
            if cfg.callback_duplicate_rate and state._rng.random() < cfg.callback_duplicate_rate:
                posts.append((status, token))
        if cfg.callback_reorder:
            state._rng.shuffle(posts)
        for status, token in posts:
            if cfg.callback_delay_ms:
                await asyncio.sleep(cfg.callback_delay_ms / 1000)
            params = {
                "AccountSid": state.account_sid,
                "ApiVersion": "2010-04-01",
                "From": m.sender,
                "To": m.to,
                "MessageSid": m.sid,
                "SmsSid": m.sid,
                "MessageStatus": status,
                "SmsStatus": status,
            }
            if status in ("failed", "undelivered"):
                params["ErrorCode"] = m.error_code or "30003"
            await post_signed(m.status_callback, params, token)

    def refuse(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        state.count("rejected")
        return _twilio_error(status, code, message, headers)

    async def create_message(request: Request) -> Response:
        if not authorised(request) or request.path_params["account"] != state.account_sid:
            return _twilio_error(401, 20003, "Authenticate")
        cfg = state.config
        try:
            form = await _form(request)
        except ClientDisconnect:
            state.count("dropped")
            return Response(status_code=499)  # the client went away mid-request: nothing accepted
        to = str(form.get("To", ""))
        sender = str(form.get("From", "") or form.get("MessagingServiceSid", ""))
        body = str(form.get("Body", ""))
        callback = str(form.get("StatusCallback", ""))
        if cfg.max_per_second:
            now = time.monotonic()
            state._window = [t for t in state._window if now - t < 1.0]
            if len(state._window) >= cfg.max_per_second:
                return refuse(429, 20429, "Too Many Requests", {"Retry-After": "1"})
            state._window.append(now)
        if cfg.throttle_rate and state._rng.random() < cfg.throttle_rate:
            return refuse(429, 20429, "Too Many Requests", {"Retry-After": "1"})
        if cfg.error_rate and state._rng.random() < cfg.error_rate:
            return refuse(500, 20500, "Internal Server Error")
        if not _E164.fullmatch(to):
            return refuse(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return refuse(400, 21603, "A 'From' phone number is required.")
        if not body:
            return refuse(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return refuse(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        m = SimMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            sender=sender,
            body=body,
            status="queued",
            date_created=_now(),
            status_callback=callback,
        )
        if cfg.fail_rate and state._rng.random() < cfg.fail_rate:
            m.final = state._rng.choice(("failed", "undelivered"))
            m.error_code = "30003" if m.final == "undelivered" else "30008"
        payload = _message_json(state, m)
        if not cfg.progress_delay_ms:  # no time between the steps: stored as it ends (one write)
            m.status, m.date_sent = m.final, m.date_created
        state.messages[m.sid] = m  # one write; accepted creates count as requests (stats)
        if cfg.progress_delay_ms or (cfg.callbacks and m.status_callback):
            spawn(progress(m, cfg))
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if cfg.accept_error_rate and state._rng.random() < cfg.accept_error_rate:
            return _twilio_error(500, 20500, "Internal Server Error")  # taken, but the answer is lost
        return JSONResponse(payload, status_code=201)

    async def list_messages(request: Request) -> Response:
        """Newest first, like Twilio: ``To`` / ``From`` / ``DateSent`` (``>``,
        ``<``: on ``date_sent``, so a message not yet sent is not matched) filters,
        ``PageSize`` (1..1000), ``Page`` and ``PageToken`` (``PASM<sid>``: the page
        starts after that message, stable while new messages arrive)."""
        if not authorised(request):
            return _twilio_error(401, 20003, "Authenticate")
        q = request.query_params
        to, sender = q.get("To"), q.get("From")
        try:
            page_size = int(q.get("PageSize", "50"))
            page = int(q.get("Page", "0"))
        except ValueError:
            return _twilio_error(400, 20001, "Invalid PageSize or Page")
        if not 1 <= page_size <= 1000 or page < 0:
            return _twilio_error(400, 20001, "PageSize must be between 1 and 1000")
        items = state.messages.values(tag=to or None, newest_first=True)
        if sender:
            items = [m for m in items if m.sender == sender]
        for key in ("DateSent>", "DateSent<", "DateSent"):
            if not q.get(key):
                continue
            bound = _date_filter(q[key])
            if bound is None:
                return _twilio_error(400, 20001, f"Invalid {key}")
            day_only = len(q[key]) == 10
            pairs = [(m, _sent_key(m, day_only)) for m in items]
            if key == "DateSent>":
                items = [m for m, v in pairs if v is not None and v >= bound]
            elif key == "DateSent<":
                items = [m for m, v in pairs if v is not None and v <= bound]
            else:
                items = [m for m, v in pairs if v is not None and v.date() == bound.date()]
        token = q.get("PageToken", "")
        offset = page * page_size
        if token.startswith("PA"):
            sids = [m.sid for m in items]
            if token[2:] in sids:
                offset = sids.index(token[2:]) + 1
        chunk = items[offset : offset + page_size]
        base = f"/2010-04-01/Accounts/{state.account_sid}/Messages.json"
        extra = "".join(f"&{quote(k)}={quote(v)}" for k, v in q.items() if k not in ("Page", "PageSize", "PageToken"))
        next_uri = previous_uri = None
        if chunk and offset + len(chunk) < len(items):
            next_uri = f"{base}?PageSize={page_size}&Page={page + 1}&PageToken=PA{chunk[-1].sid}{extra}"
        if page > 0 and chunk:
            previous_uri = f"{base}?PageSize={page_size}&Page={page - 1}&PageToken=PB{chunk[0].sid}{extra}"
        start_index = page * page_size
        current = f"{base}?PageSize={page_size}&Page={page}" + (f"&PageToken={quote(token)}" if token else "")
        return JSONResponse(
            {
                "first_page_uri": f"{base}?PageSize={page_size}&Page=0{extra}",
                "end": start_index + max(len(chunk), 1) - 1,
                "previous_page_uri": previous_uri,
                "messages": [_message_json(state, m) for m in chunk],
                "uri": current + extra,
                "page_size": page_size,
                "start": start_index,
                "next_page_uri": next_uri,
                "page": page,
            }
        )

    async def fetch_message(request: Request) -> Response:
        if not authorised(request):
            return _twilio_error(401, 20003, "Authenticate")
        m = state.messages.get(request.path_params["sid"])
        if m is None:
            return _twilio_error(404, 20404, "The requested resource was not found")
        return JSONResponse(_message_json(state, m))

    async def lookup(request: Request) -> Response:
        if not authorised(request):
            return _twilio_error(401, 20003, "Authenticate")
        phone = request.path_params["phone"]
        carrier, original, ported = carrier_for(phone)
        data: dict[str, Any] = {"phone_number": phone, "valid": True, "calling_country_code": "81"}
        if "line_type_intelligence" in request.query_params.get("Fields", ""):
            data["line_type_intelligence"] = {
                "carrier_name": carrier,
                "type": "mobile" if carrier != "other" else "unknown",
                "mobile_country_code": "440",
                "mobile_network_code": str(CARRIERS.index(carrier) + 10) if carrier in CARRIERS else "",
                "error_code": None,
            }
        return JSONResponse(data)

    async def control(request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            with state.store.lock():
                if "auth_token" in data:  # rotate the account's token (as in Twilio's console)
                    state.auth_token = str(data.pop("auth_token"))
                config = state.config
                for key, value in data.items():
                    if not hasattr(config, key):
                        return JSONResponse({"error": f"unknown setting {key}"}, status_code=400)
                    setattr(config, key, value)
                state.config = config
            if "seed" in data:
                state._rng.seed(data["seed"])
        return JSONResponse(asdict(state.config))

    async def reset(request: Request) -> Response:
        state.reset()
        if (await request.body()).strip():
            data = await request.json()
            if data.get("config", True):
                inbound = state.config.inbound_url
                state.config = SimConfig(inbound_url=inbound)
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:
        statuses: dict[str, int] = {}
        asked: dict[str, int] = {}  # "to|body" -> accepted creates
        by_to: dict[str, int] = {}
        messages = state.messages.values()
        for m in messages:
            statuses[m.status] = statuses.get(m.status, 0) + 1
            key = f"{m.to}|{m.body}"
            asked[key] = asked.get(key, 0) + 1
            by_to[m.to] = by_to.get(m.to, 0) + 1
        return JSONResponse(
            {
                "requests": len(messages) + state.counted("rejected") + state.counted("dropped"),
                "rejected": state.counted("rejected"),
                "messages": len(messages),
                "by_to": by_to,
                "asked": asked,
                "max_asked": max(asked.values(), default=0),
                "statuses": statuses,
                "callbacks_posted": state.counted("callbacks_posted"),
                "callback_errors": state.counted("callback_errors"),
                "pending_tasks": len(state._tasks),
            }
        )

    async def send_reply(phone: str, body: str) -> dict[str, Any]:
        last = next(iter(state.messages.values(tag=phone, newest_first=True)), None)
        to = last.sender if last else ""
        reply: dict[str, Any] = {
            "sid": "SM" + uuid.uuid4().hex,
            "from": phone,
            "to": to,
            "body": body,
            "date_created": _now().isoformat(),
            "webhook_status": None,
        }
        inbound_url = state.config.inbound_url
        if inbound_url:
            params = {
                "AccountSid": state.account_sid,
                "ApiVersion": "2010-04-01",
                "MessageSid": reply["sid"],
                "SmsSid": reply["sid"],
                "SmsMessageSid": reply["sid"],
                "From": phone,
                "To": to,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": "1",
            }
            reply["webhook_status"] = await post_signed(inbound_url, params)
        state.replies.append(reply)
        return reply

    async def reply_json(request: Request) -> Response:
        data = await request.json()
        reply = await send_reply(str(data.get("from", "")), str(data.get("body", "")))
        return JSONResponse(reply)

    async def reply_form(request: Request) -> Response:
        form = await request.form()
        phone = request.path_params["phone"]
        await send_reply(phone, str(form.get("body", "")))
        back = str(request.url_for("sim_inbox_phone", phone=phone)) + f"?lang={_lang(request)}"
        return RedirectResponse(back, status_code=303)

    async def inbox_index(request: Request) -> Response:
        lang = _lang(request)
        phones = state.messages.tag_counts()
        rows = "".join(
            f'<li><a href="{html.escape(str(request.url_for("sim_inbox_phone", phone=p)))}?lang={lang}">'
            f"{html.escape(p)}</a> ({n})</li>"
            for p, n in sorted(phones.items())
        )
        body = f"<p>{t('sim.inbox.phones', lang, count=len(phones))}</p><ul>{rows}</ul>"
        return HTMLResponse(_page(t("sim.inbox.title", lang), body, lang, str(request.url.path)))

    async def inbox_phone(request: Request) -> Response:
        lang = _lang(request)
        phone = request.path_params["phone"]
        items = state.messages.values(tag=phone, newest_first=True)
        carrier, _, ported = carrier_for(phone)
        rows = "".join(
            f'<li class="msg"><div class="meta">'
            f"<time datetime='{html.escape(_rfc2822(m.date_created))}'>"
            f"{html.escape(people_datetime(m.date_created, lang, INBOX_TIMEZONE))}</time> · "
            f"{html.escape(m.sender)} · {html.escape(_status_text(m.status, lang))}</div>"
            f'<div class="body">{_linkify(m.body)}</div></li>'
            for m in items
        )
        replies = "".join(
            f'<li class="reply">{html.escape(r["body"])}</li>'
            for r in state.replies.values(newest_first=True)
            if r["from"] == phone
        )
        action = html.escape(str(request.url_for("sim_inbox_reply", phone=phone)))
        ported_text = t("sim.inbox.ported", lang) if ported else ""
        body = (
            f"<p>{html.escape(t('sim.inbox.carrier', lang, carrier=carrier))}{ported_text}</p>"
            f"<p class='meta'>{t('sim.inbox.times', lang, zone=INBOX_TIMEZONE)}</p>"
            f"<ol class='inbox'>{rows}</ol>"
            f"<form method='post' action='{action}?lang={lang}'>"
            f"<input name='body' aria-label='{t('sim.inbox.reply_label', lang)}'>"
            f"<button type='submit'>{t('sim.inbox.reply', lang)}</button></form>"
            f"<h2>{t('sim.inbox.replies', lang)}</h2><ul>{replies}</ul>"
        )
        return HTMLResponse(_page(t("sim.inbox.phone_title", lang, phone=phone), body, lang, str(request.url.path)))

    routes = [
        Route("/2010-04-01/Accounts/{account}/Messages.json", create_message, methods=["POST"]),
        Route("/2010-04-01/Accounts/{account}/Messages.json", list_messages, methods=["GET"]),
        Route("/2010-04-01/Accounts/{account}/Messages/{sid}.json", fetch_message, methods=["GET"]),
        Route("/v2/PhoneNumbers/{phone}", lookup, methods=["GET"]),
        Route("/_control", control, methods=["GET", "POST"]),
        Route("/_reset", reset, methods=["POST"]),
        Route("/_stats", stats, methods=["GET"]),
        Route("/_reply", reply_json, methods=["POST"]),
        Route("/inbox", inbox_index, methods=["GET"], name="sim_inbox"),
        Route("/inbox/{phone}", inbox_phone, methods=["GET"], name="sim_inbox_phone"),
        Route("/inbox/{phone}/reply", reply_form, methods=["POST"], name="sim_inbox_reply"),
    ]

    async def lifespan(app: Starlette) -> AsyncIterator[None]:  # noqa: ARG001
        yield
        if state._client is not None:
            await state._client.aclose()

    from contextlib import asynccontextmanager

    app = Starlette(routes=routes, lifespan=asynccontextmanager(lifespan))
    app.state.sim = state
    return app


_URL_RE = re.compile(r"https?://[^\s<>\"'、。「」]+")


async def _form(request: Request) -> Any:
    """The create's form: a urlencoded body (what Twilio's SDK and our adapter
    send) parsed at once, anything else through Starlette's parser."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return await request.form()


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def _linkify(text: str) -> str:
    out, last = [], 0
    for match in _URL_RE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}" rel="noreferrer">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br>")


# The inbox shows times in Japan time (the simulator knows no organisation).
INBOX_TIMEZONE = "Asia/Tokyo"


def _lang(request: Request) -> str:
    """``?lang=`` first, then the browser's language; Japanese by default."""
    return chosen_language(request.query_params.get("lang"), accept=request.headers.get("accept-language"))


def _status_text(status: str, lang: str) -> str:
    key = f"sim.status.{status}"
    return t(key, lang) if key in CATALOG else status


def _page(title: str, body: str, lang: str = "ja", path: str = "") -> str:
    other = "en" if lang == "ja" else "ja"
    switch = f"<p><a href='{html.escape(path)}?lang={other}' lang='{other}'>{t('sim.lang_switch', lang)}</a></p>"
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:1em auto}"
        ".msg{border:1px solid #ccc;border-radius:8px;padding:.5em;margin:.5em 0;list-style:none}"
        ".meta{color:#666;font-size:small}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}{switch if path else ''}</body></html>"
    )


def _cli_app() -> Starlette:
    """The app of one ``--workers`` process (its arguments come in the environment)."""
    import json
    import os

    args = json.loads(os.environ["SMSPAY_SIM_CLI"])
    return create_app(
        account_sid=args["account_sid"],
        auth_token=args["auth_token"],
        inbound_url=args["inbound_url"],
        store=SimStore(args["store"]) if args["store"] else None,
    )


def main(argv: list[str] | None = None) -> None:
    import json
    import os
    import tempfile

    import uvicorn

    parser = argparse.ArgumentParser(description="Twilio-compatible SMS simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--account-sid", default=None)
    parser.add_argument("--auth-token", default=None)
    parser.add_argument("--inbound-url", default=None, help="where phone replies are posted")
    parser.add_argument("--store", default=None, help="state file shared with other processes (default: in memory)")
    parser.add_argument("--workers", type=int, default=1, help="server processes sharing one store")
    args = parser.parse_args(argv)
    if args.workers > 1:
        store = args.store or os.path.join(tempfile.mkdtemp(prefix="smspay-sim-"), "simulator.sqlite3")
        os.environ["SMSPAY_SIM_CLI"] = json.dumps(
            {
                "account_sid": args.account_sid,
                "auth_token": args.auth_token,
                "inbound_url": args.inbound_url,
                "store": store,
            }
        )
        uvicorn.run(
            "smspay_app.providers.sms.simulator:_cli_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
            access_log=False,
        )
        return
    app = create_app(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        inbound_url=args.inbound_url,
        store=SimStore(args.store) if args.store else None,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
