"""A Karaden-compatible SMS simulator: a real HTTP service (Starlette).

Mounted in the web app at ``/sim/karaden`` next to the Twilio one, or on its
own::

    python -m smspay_app.providers.sms.karaden_simulator --port 8902

Speaks what the official ``karaden-prg-python`` SDK calls: ``POST
/{tenant}/messages`` (form), ``GET /{tenant}/messages/{id}``, ``GET
/{tenant}/messages`` (``to``, ``tag``, ``status``, ``result``,
``sent_result``, ``service_id``, ``page``, ``per_page``), ``POST
/{tenant}/messages/{id}/cancel``; ``Authorization: Bearer`` and
``Karaden-Version: 2024-03-01`` are required; errors are Karaden error
objects with 400 / 401 / 403 / 404 / 422 / 429. A message is ``processing``
when created and ``done`` (``sent_result`` ``received``, or ``unconnected``
for the ``fail_rate`` share) once ``progress_delay_ms`` passed; its carrier
comes from the number (``simulator.carrier_for``, number portability
included). Same fault modes as the Twilio simulator: ``GET|POST /_control``
(``latency_ms``, ``error_rate``, ``accept_error_rate``, ``throttle_rate``,
``max_per_second``, ``fail_rate``, ``progress_delay_ms``), ``POST /_reset``,
``GET /_stats`` (how many times each message was asked to be sent).

Result callbacks (Karaden's SMS送達結果通知): with ``result_url`` set (the
service setting's endpoint, through ``/_control``), each message's final
message object is POSTed there as JSON with ``Karaden-Version`` once it is
``done`` (``callbacks`` in ``/_stats`` counts them).

State lives in a ``SimStore`` (providers/sim_store.py): private to the process
by default, shared by every process of the installation when mounted in the app
(``--store PATH`` alone); ``max_per_second`` counts per process."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smspay_app.providers.sim_store import Codec, SimStore, Table
from smspay_app.providers.sms.karaden import API_VERSION, body_limit, international
from smspay_app.providers.sms.simulator import carrier_for

JST = ZoneInfo("Asia/Tokyo")
DEFAULT_TENANT = "00000000-0000-4000-8000-00000000cafe"
DEFAULT_TOKEN = "karaden-simulator-token"
DEFAULT_SERVICE_ID = 1


@dataclass
class KaradenSimConfig:
    latency_ms: float = 0.0  # answer a create this much later (after accepting it)
    error_rate: float = 0.0  # share of creates answered 500 (not accepted)
    accept_error_rate: float = 0.0  # share of creates accepted, then answered 500 anyway
    throttle_rate: float = 0.0  # share of creates answered 429 (not accepted)
    max_per_second: float = 0.0  # creates above this rate answered 429 (0: no cap)
    fail_rate: float = 0.0  # share of messages that end undelivered (unconnected)
    progress_delay_ms: float = 0.0  # time from processing to done
    result_url: str = ""  # where results are POSTed (the service's result endpoint); "": none
    seed: int | None = None


@dataclass
class KaradenSimMessage:
    id: str
    to: str  # domestic, as given
    body: str
    tags: list[str]
    created_at: datetime  # aware UTC
    carrier: str
    fails: bool
    scheduled_at: str | None = None
    limited_at: str | None = None
    cancelled: bool = False


def _encode(m: KaradenSimMessage) -> dict[str, Any]:
    d = asdict(m)
    d["created_at"] = m.created_at.isoformat()
    return d


def _decode(d: dict[str, Any]) -> KaradenSimMessage:
    return KaradenSimMessage(**{**d, "created_at": datetime.fromisoformat(d["created_at"])})


class KaradenSimState:
    """The simulator's state in its store (see the module docstring)."""

    def __init__(self, tenant_id: str, token: str, service_id: int, store: SimStore | None = None) -> None:
        self.tenant_id, self.token, self.service_id = tenant_id, token, service_id
        self.store = store or SimStore()
        self.messages = self.store.table("karaden.messages", Codec(_encode, _decode), tag=lambda m: m.to)
        self._settings: Table[Any] = self.store.table("karaden.settings")
        self.config = KaradenSimConfig()
        self._window: list[float] = []
        self._rng = random.Random()
        self._tasks: set[Any] = set()  # result callbacks in flight

    @property
    def config(self) -> KaradenSimConfig:
        return KaradenSimConfig(**self._settings["config"])

    @config.setter
    def config(self, value: KaradenSimConfig) -> None:
        self._settings["config"] = asdict(value)

    def count(self, name: str) -> None:
        self.store.add(f"karaden.n.{name}")

    def counted(self, name: str) -> int:
        return self.store.count(f"karaden.n.{name}")

    def reset(self) -> None:
        with self.store.lock():
            self.messages.clear()
            self.store.drop("karaden.n.")
        self._window.clear()


def _iso(dt: datetime) -> str:
    return dt.astimezone(JST).isoformat(timespec="seconds")


def _error(status: int, code: str, message: str, errors: dict[str, list[str]] | None = None) -> JSONResponse:
    return JSONResponse(
        {"object": "error", "code": code, "message": message, "errors": {"object": "object", **(errors or {})}},
        status_code=status,
    )


def _message_json(
    state: KaradenSimState, m: KaradenSimMessage, *, fresh: bool = False, config: KaradenSimConfig | None = None
) -> dict[str, Any]:
    """``fresh``: the answer to its create, before anything went out."""
    delay = (config or state.config).progress_delay_ms
    done = not fresh and (datetime.now(UTC) - m.created_at) >= timedelta(milliseconds=delay)
    if m.cancelled:
        status, result, sent_result = "done", "cancel", "none"
    elif done:
        status, result, sent_result = "done", "done", "unconnected" if m.fails else "received"
    else:
        status, result, sent_result = "processing", "processing", "none"
    sent_at = _iso(m.created_at) if done and not m.cancelled else None
    return {
        "id": m.id,
        "object": "message",
        "service_id": state.service_id,
        "billing_address_id": 1,
        "to": m.to,
        "body": m.body,
        "tags": m.tags,
        "is_shorten": False,
        "is_shorten_clicked": None,
        "status": status,
        "result": result,
        "sent_result": sent_result,
        "carrier": m.carrier if done and not m.cancelled else None,
        "charged_count_per_sent": (len(m.body) + 69) // 70 if done and not m.cancelled else 0,
        "scheduled_at": m.scheduled_at,
        "limited_at": m.limited_at,
        "sent_at": sent_at,
        "received_at": sent_at if done and not m.fails and not m.cancelled else None,
        "charged_at": sent_at,
        "created_at": _iso(m.created_at),
        "updated_at": _iso(m.created_at),
    }


def create_app(
    *,
    tenant_id: str = DEFAULT_TENANT,
    token: str = DEFAULT_TOKEN,
    service_id: int = DEFAULT_SERVICE_ID,
    store: SimStore | None = None,
) -> Starlette:
    """``store``: where the state lives (default: private to this process)."""
    state = KaradenSimState(tenant_id, token, service_id, store)

    def refused(request: Request) -> Response | None:
        """The SDK's checks a real tenant makes: the version header, the token, the tenant."""
        if request.headers.get("karaden-version") != API_VERSION:
            return _error(400, "bad_request", "Karaden-Version is missing or unsupported")
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or header[7:] != state.token:
            return _error(401, "unauthorized", "invalid token")
        if request.path_params.get("tenant") != state.tenant_id:
            return _error(403, "forbidden", "this token has no access to that tenant")
        return None

    def throttled(cfg: KaradenSimConfig) -> bool:
        if cfg.throttle_rate and state._rng.random() < cfg.throttle_rate:
            return True
        if cfg.max_per_second > 0:
            now = time.monotonic()
            state._window[:] = [t for t in state._window if now - t < 1.0]
            if len(state._window) >= cfg.max_per_second:
                return True
            state._window.append(now)
        return False

    async def create_message(request: Request) -> Response:
        state.count("requests")
        denied = refused(request)
        if denied is not None:
            return denied
        try:
            form = await request.form()
        except ClientDisconnect:
            return Response(status_code=499)  # the client went away mid-request: nothing accepted
        cfg = state.config
        if throttled(cfg):
            state.count("rejected")
            return _error(429, "too_many_requests", "too many requests")
        if cfg.error_rate and state._rng.random() < cfg.error_rate:
            state.count("rejected")
            return JSONResponse({"object": "error", "code": "internal", "message": "internal error"}, status_code=500)
        errors: dict[str, list[str]] = {}
        service = str(form.get("service_id") or "")
        to = str(form.get("to") or "")
        body = str(form.get("body") or "")
        if not service.isdigit():
            errors["service_id"] = ["service_idは必須です。"]
        if not to:
            errors["to"] = ["toは必須です。"]
        if not body:
            errors["body"] = ["bodyは必須です。"]
        if errors:
            return _error(400, "bad_request", "invalid parameters", errors)
        if int(service) != state.service_id:
            return _error(404, "not_found", "no such service")
        digits = to.replace("-", "")
        if not (digits.isdigit() and digits.startswith("0") and len(digits) == 11):
            return _error(
                422, "unprocessable_entity", "invalid destination", {"to": ["携帯電話番号を入力してください。"]}
            )
        carrier = carrier_for(international(digits))[0]
        if len(body) > body_limit(carrier):
            return _error(422, "unprocessable_entity", "body too long", {"body": [f"{body_limit(carrier)}文字以内"]})
        message = KaradenSimMessage(
            id=str(uuid.uuid4()),
            to=digits,
            body=body,
            tags=[str(t) for t in form.getlist("tags[]")],
            created_at=datetime.now(UTC),
            carrier=carrier,
            fails=bool(cfg.fail_rate and state._rng.random() < cfg.fail_rate),
            scheduled_at=str(form.get("scheduled_at")) if form.get("scheduled_at") else None,
            limited_at=str(form.get("limited_at")) if form.get("limited_at") else None,
        )
        state.messages[message.id] = message
        if cfg.result_url:
            task = asyncio.get_running_loop().create_task(post_result(message, cfg.result_url))
            state._tasks.add(task)
            task.add_done_callback(state._tasks.discard)
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        if cfg.accept_error_rate and state._rng.random() < cfg.accept_error_rate:
            return JSONResponse({"object": "error", "code": "internal", "message": "internal error"}, status_code=500)
        return JSONResponse(_message_json(state, message, fresh=True, config=cfg))

    async def post_result(message: KaradenSimMessage, url: str) -> None:
        """Karaden's result callback: the message object once it is done."""
        import httpx

        # a moment after done, as Karaden does (the sender has recorded the id by then)
        await asyncio.sleep(state.config.progress_delay_ms / 1000 + 0.5)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                await client.post(url, json=_message_json(state, message), headers={"Karaden-Version": API_VERSION})
            state.count("callbacks")
        except httpx.HTTPError:
            pass  # Karaden gives up too; the client polls

    async def detail(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        message = state.messages.get(request.path_params["id"])
        if message is None:
            return _error(404, "not_found", "no such message")
        return JSONResponse(_message_json(state, message))

    async def cancel(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        message = state.messages.get(request.path_params["id"])
        if message is None:
            return _error(404, "not_found", "no such message")
        if _message_json(state, message)["status"] == "done":
            return _error(422, "unprocessable_entity", "the message was already processed")
        message.cancelled = True
        state.messages[message.id] = message
        return JSONResponse(_message_json(state, message))

    async def list_messages(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        q = request.query_params
        try:
            page = max(1, int(q.get("page") or 1))
            per_page = min(100, max(1, int(q.get("per_page") or 100)))
        except ValueError:
            return _error(400, "bad_request", "invalid paging")
        rows = []
        cfg = state.config
        for message in state.messages.values(tag=q.get("to") or None, newest_first=True):
            data = _message_json(state, message, config=cfg)
            if q.get("to") and data["to"] != q["to"]:
                continue
            if q.get("tag") and q["tag"] not in data["tags"]:
                continue
            if any(q.get(k) and data[k] != q[k] for k in ("status", "result", "sent_result")):
                continue
            rows.append(data)
        chunk = rows[(page - 1) * per_page : page * per_page]
        return JSONResponse({"object": "list", "data": chunk, "has_more": len(rows) > page * per_page})

    async def control(request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            with state.store.lock():
                config = state.config
                for key, value in data.items():
                    if hasattr(config, key):
                        setattr(config, key, value)
                state.config = config
            if config.seed is not None:
                state._rng.seed(config.seed)
        return JSONResponse(asdict(state.config))

    async def reset(request: Request) -> Response:  # noqa: ARG001
        state.reset()
        state.config = KaradenSimConfig()
        return JSONResponse({"ok": True})

    async def stats(request: Request) -> Response:  # noqa: ARG001
        asked: dict[str, int] = {}
        messages = state.messages.values()
        for m in messages:
            asked[f"{m.to}|{m.body}"] = asked.get(f"{m.to}|{m.body}", 0) + 1
        return JSONResponse(
            {
                "messages": len(messages),
                "requests": state.counted("requests"),
                "rejected": state.counted("rejected"),
                "by_to": state.messages.tag_counts(),
                "max_asked": max(asked.values(), default=0),
                "callbacks": state.counted("callbacks"),
            }
        )

    routes = [
        Route("/_control", control, methods=["GET", "POST"]),
        Route("/_reset", reset, methods=["POST"]),
        Route("/_stats", stats, methods=["GET"]),
        Route("/{tenant}/messages", create_message, methods=["POST"]),
        Route("/{tenant}/messages", list_messages, methods=["GET"]),
        Route("/{tenant}/messages/{id}", detail, methods=["GET"]),
        Route("/{tenant}/messages/{id}/cancel", cancel, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = state
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Karaden-compatible SMS simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8902)
    parser.add_argument("--tenant-id", default=DEFAULT_TENANT)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--service-id", type=int, default=DEFAULT_SERVICE_ID)
    parser.add_argument("--store", default=None, help="state file shared with other processes (default: in memory)")
    args = parser.parse_args(argv)
    store = SimStore(args.store) if args.store else None
    app = create_app(tenant_id=args.tenant_id, token=args.token, service_id=args.service_id, store=store)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
