"""The KOMOJU sandbox: a real HTTP service speaking KOMOJU's v1 API for the
parts we use, so the KOMOJU adapter (``komoju.KomojuGateway``) is the code
under test. Field names, statuses and errors follow KOMOJU's documentation
and the OpenAPI description its official SDKs are generated from;
tests/fixtures/komoju/ holds recorded requests and answers that
tests/test_komoju_contract.py replays against it.

- Basic auth: the secret key as the user name, an empty password; anything
  else answers 401 ``unauthorized``. Bodies are JSON (as the SDKs send) or
  form-encoded (``payment_details[type]=konbini``, as curl does).
- ``POST /api/v1/sessions`` (``amount``, ``currency`` JPY, ``return_url``,
  ``payment_types``, ``line_items``, ``email``, ``metadata``,
  ``default_locale``, ``expires_in_seconds``, ``payment_data`` with
  ``external_order_num``) answers a ``session`` with ``session_url`` (the
  hosted page); ``GET /api/v1/sessions/{id}``;
  ``POST /api/v1/sessions/{id}/cancel`` (a ``pending`` one only).
- ``POST /api/v1/payments`` (server-side: ``payment_details`` of type
  ``konbini`` with ``store`` and ``email``, ``pay_easy`` or
  ``bank_transfer`` with ``email``, ``phone`` and the payer's family and given names)
  answers an ``authorized`` payment with its numbers;
  ``GET /api/v1/payments/{id}``; ``POST /api/v1/payments/{id}/refund``
  (full or partial, of a ``captured`` card / PayPay payment: as KOMOJU,
  konbini, Pay-easy and bank transfers are refunded by a manual refund
  request, so the API answers 422); ``POST .../cancel``.
- Payment statuses: pending, authorized, captured, refunded, cancelled,
  expired, failed. Session statuses: pending, completed, cancelled.
- Errors: ``{"error": {"code", "message", "param"}}`` with KOMOJU's codes
  (``unauthorized`` 401, ``not_found`` 404, ``missing_parameter`` /
  ``invalid_parameter`` / ``invalid_payment_type`` / ``invalid_currency``
  400, ``unprocessable_entity`` 422, ``conflict``
  409 for an idempotency key reused with other parameters).
  ``X-KOMOJU-IDEMPOTENCY`` replays the first answer.
- ``GET /sessions/{id}`` is the hosted page (Japanese / English, no
  JavaScript): credit card, konbini (with the store), bank transfer,
  Pay-easy, PayPay. Card and PayPay capture at once (``payment.captured``);
  konbini, Pay-easy and bank transfer go ``authorized`` with their numbers
  (``payment.authorized``) until the tester pays or expires them on
  ``GET /pending`` (the sandbox's own simulator page: "pay at the store").
  The browser returns to ``return_url?session_id=...``.
- Webhooks: ``{"id", "type", "resource": "event", "data": <payment>,
  "created_at", "reason"}`` POSTed with ``X-Komoju-Signature`` (hex
  HMAC-SHA256 of the raw body with the webhook secret), ``X-Komoju-Event``
  and ``X-Komoju-ID``; ``GET /_deliveries`` lists them.
- Merchant accounts: the configured secret key, and any added by
  ``POST /_merchants`` (JSON ``secret_key``, ``webhook_url``,
  ``webhook_secret``: what a business sets in KOMOJU's dashboard). Each sees
  only its own sessions and payments (another's answer 404) and its events go
  to its own webhook URL, signed with its own secret.

Mounted at ``/sim/komoju`` in ``web.app``; alone:
``python -m smspay_app.providers.payments.komoju_sandbox --port 8788``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from smspay_app.domain.formatting import people_datetime, yen
from smspay_app.i18n import chosen_language, t
from smspay_app.providers.payments.sandbox import parse_form
from smspay_app.providers.sim_store import Codec, SimStore, Table, UnitOfWorkMiddleware

PAYMENT_TYPES = ("credit_card", "konbini", "bank_transfer", "pay_easy", "paypay")
DEFERRED = ("konbini", "bank_transfer", "pay_easy")  # authorized until paid at the store / bank
KONBINI_STORES = ("lawson", "family-mart", "ministop", "seicomart", "seven-eleven", "daily-yamazaki")
KONBINI_MIN, KONBINI_MAX = 120, 300_000
SANDBOX_TIMEZONE = "Asia/Tokyo"
EXPIRY_DAYS = 3
SESSION_SECONDS = 86_400
SESSION_PARAMS = {
    "mode",
    "amount",
    "currency",
    "return_url",
    "email",
    "expires_in_seconds",
    "external_customer_id",
    "external_order_num",
    "payment_types",
    "default_locale",
    "line_items",
    "metadata",
    "payment_data",
}


class KomojuError(Exception):
    """An API error answered in KOMOJU's shape."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "param": self.param, "details": {}}}


def _missing(param: str) -> KomojuError:
    return KomojuError(400, "missing_parameter", f"A required parameter ({param}) is missing", param)


def _invalid(param: str, why: str = "is invalid") -> KomojuError:
    return KomojuError(400, "invalid_parameter", f"The parameter {param} {why}", param)


def _new_id() -> str:
    """25 lower-case alphanumerics, as KOMOJU's ids."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(25))


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """Optional fields as KOMOJU's models have them: absent when not given,
    never ``null`` (the SDK's types: ``image?: string``, ``name?: string``)."""
    return {k: v for k, v in fields.items() if v is not None}


def _iso(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _int(value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise _invalid(param, "must be an integer")
    try:
        return int(str(value))
    except ValueError as exc:
        raise _invalid(param, "must be an integer") from exc


def sign(secret: str, body: bytes) -> str:
    """``X-Komoju-Signature``: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class KomojuSandboxConfig:
    secret_key: str | None = None  # None: settings.komoju_secret_key at request time
    webhook_secret: str | None = None  # None: settings.komoju_webhook_secret
    webhook_url: str | None = None  # None: {settings.public_base_url}/webhooks/komoju


# idempotency key -> (fingerprint of the request, status, body)
_IDEMPOTENCY = Codec[tuple[str, int, str]](lambda v: list(v), lambda v: (v[0], v[1], v[2]))
MERCHANTS_TABLE = "komoju.merchants"


@dataclass
class KomojuState:
    """Kept in a ``SimStore`` (providers/sim_store.py), seen by every process of
    the installation (issue 17 item 2), as the Stripe-compatible sandbox's."""

    config: KomojuSandboxConfig
    store: SimStore = field(default_factory=SimStore)

    def __post_init__(self) -> None:
        self.sessions: Table[dict[str, Any]] = self.store.table("komoju.sessions")
        self.payments: Table[dict[str, Any]] = self.store.table("komoju.payments")
        self.idempotency = self.store.table("komoju.idempotency", _IDEMPOTENCY)
        self.deliveries: Table[dict[str, Any]] = self.store.table("komoju.deliveries")
        self.lock = self.store.mutex
        # more merchant accounts (secret key -> webhook url and secret), as each
        # business has its own KOMOJU account: ``POST /_merchants``
        self.merchants = mounted_merchants(self.store)
        self.owner: Table[str] = self.store.table("komoju.owner")  # session / payment id -> its merchant's key

    def merchant_for(self, header: str) -> str | None:
        """The secret key a Basic ``Authorization`` header names, if known."""
        found = None
        for key in [self.secret_key(), *self.merchants.keys()]:
            expected = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            if header and secrets.compare_digest(header.encode(), expected.encode()):
                found = key
        return found

    def hook_of(self, key: str) -> tuple[str, str]:
        """(webhook url, webhook secret) of the merchant with ``key``."""
        account = self.merchants.get(key)
        if account is not None:
            return account["webhook_url"], account["webhook_secret"]
        return self.webhook_url(), self.webhook_secret()

    def secret_key(self) -> str:
        if self.config.secret_key is not None:
            return self.config.secret_key
        from smspay_app.settings import get_settings

        return get_settings().komoju_secret_key

    def webhook_secret(self) -> str:
        if self.config.webhook_secret is not None:
            return self.config.webhook_secret
        from smspay_app.settings import get_settings

        return get_settings().komoju_webhook_secret

    def webhook_url(self) -> str:
        if self.config.webhook_url is not None:
            return self.config.webhook_url
        from smspay_app.settings import get_settings

        return f"{get_settings().public_base_url.rstrip('/')}/webhooks/komoju"

    def send_event(self, event_type: str, payment: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        """Sign and POST one event (KOMOJU's shape); keeps a delivery record."""
        event = {
            "id": _new_id(),
            "type": event_type,
            "resource": "event",
            "data": json.loads(json.dumps(payment)),
            "created_at": _iso(),
            "reason": reason,
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        url, secret = self.hook_of(self.owner.get(str(payment.get("id")), self.secret_key()))
        signature = sign(secret, body)
        record: dict[str, Any] = {
            "event_id": event["id"],
            "type": event_type,
            "url": url,
            "status": None,
            "body": body.decode(),
            "signature": signature,
        }
        try:
            response = httpx.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Komoju-Signature": signature,
                    "X-Komoju-Event": event_type,
                    "X-Komoju-ID": str(event["id"]),
                    "User-Agent": "Komoju-Webhook",
                },
                timeout=15,
            )
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["status"] = f"error: {type(exc).__name__}"
        self.deliveries.append(record)
        return event


def _lang(request: Request, obj: dict[str, Any] | None = None, form: Any = None) -> str:
    locale = str(obj.get("default_locale") or "") if obj else ""
    return chosen_language(
        str(form.get("lang") or "") if form is not None else None,
        request.query_params.get("lang"),
        locale or None,
        accept=request.headers.get("accept-language"),
    )


def _type_label(payment: dict[str, Any], lang: str) -> str:
    return t(f"komoju.type.{payment['payment_details']['type']}", lang)


def _page(title: str, body: str, lang: str = "ja") -> HTMLResponse:
    doc = (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:0;background:#eef3f8;color:#1b2330}"
        "main{max-width:28rem;margin:0 auto;padding:1rem}"
        ".card{background:#fff;border-radius:10px;padding:1rem;box-shadow:0 1px 3px #0002}"
        ".sb{background:#f6c343;color:#000;text-align:center;font-size:.8rem;padding:.3rem}"
        "fieldset{border:1px solid #ccd;border-radius:8px;margin:.6rem 0}"
        "label{display:block;padding:.35rem 0}"
        "button{width:100%;padding:.8rem;font-size:1rem;border:0;border-radius:8px;"
        "background:#e3362e;color:#fff;margin-top:.5rem}"
        ".amt{font-size:1.6rem;font-weight:700}.err{color:#b00020}"
        "table{width:100%;border-collapse:collapse}td,th{padding:.3rem;border-top:1px solid #eee;text-align:left}"
        f"</style></head><body><div class=sb>{t('komoju.banner', lang)}</div>"
        f"<main><div class=card>{body}</div></main></body></html>"
    )
    return HTMLResponse(doc, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


# The merchant accounts of the sandbox mounted in this server (``web.app``):
# a KOMOJU connection an admin adds that points at it registers its key,
# webhook URL and secret here (``services.connections``), as a business
# enters them in KOMOJU's dashboard. In the installation's store, as the
# sandbox's sessions and payments are: every process knows them.
def mounted_merchants(store: SimStore | None = None) -> Table[dict[str, str]]:
    """The further merchant accounts of the sandbox on ``store`` (default: the
    installation's, the one mounted in this server by ``web.app``)."""
    return (store or SimStore.for_installation()).table(MERCHANTS_TABLE)


def register_mounted_merchant(
    secret_key: str, *, webhook_url: str, webhook_secret: str, store: SimStore | None = None
) -> None:
    """A merchant account of the mounted sandbox (what ``POST /_merchants`` does)."""
    mounted_merchants(store)[secret_key] = {"webhook_url": webhook_url, "webhook_secret": webhook_secret}


def create_app(  # noqa: C901  (one route table)
    config: KomojuSandboxConfig | None = None, *, store: SimStore | None = None
) -> Starlette:
    """``store``: where the state lives (default: private to this app); the
    mounted sandbox gets the installation's, shared by every process."""
    state = KomojuState(config=config or KomojuSandboxConfig(), store=store or SimStore())

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/") + str(request.scope.get("root_path", "")).rstrip("/")

    def check_auth(request: Request) -> str:
        merchant = state.merchant_for(request.headers.get("authorization", ""))
        if merchant is None:
            raise KomojuError(401, "unauthorized", "Please provide valid credentials. Secret key is invalid.")
        return merchant

    async def params_of(request: Request) -> dict[str, Any]:
        if request.method != "POST":
            return parse_form([(k, str(v)) for k, v in request.query_params.multi_items()])
        raw = await request.body()
        if not raw.strip():
            return {}
        if "json" in request.headers.get("content-type", ""):
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise KomojuError(400, "bad_request", "The request body is not valid JSON") from exc
            if not isinstance(data, dict):
                raise KomojuError(400, "bad_request", "The request body must be a JSON object")
            return data
        form = await request.form()
        return parse_form([(k, str(v)) for k, v in form.multi_items()])

    async def api(request: Request, handler: Any) -> Response:
        try:
            merchant = check_auth(request)
            request.state.merchant = merchant
            params = await params_of(request)
            key = request.headers.get("x-komoju-idempotency") if request.method == "POST" else None
            key = f"{merchant}\n{key}" if key else None  # each merchant's keys are its own
            fingerprint = hashlib.sha256(
                (request.url.path + "\n" + json.dumps(params, sort_keys=True, ensure_ascii=False)).encode()
            ).hexdigest()
            status, data = await run_in_threadpool(run, handler, request, params, key, fingerprint)
            return JSONResponse(data, status_code=status)
        except KomojuError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    def run(
        handler: Any, request: Request, params: dict[str, Any], key: str | None, fingerprint: str
    ) -> tuple[int, dict[str, Any]]:
        outbox: list[tuple[str, dict[str, Any]]] = []
        with state.lock:
            seen = state.idempotency.get(key) if key else None
            if seen is not None:
                if seen[0] != fingerprint:
                    raise KomojuError(409, "conflict", "The idempotency key was already used with different parameters")
                return seen[1], json.loads(seen[2])
            data = handler(request, params, outbox)
            if key:
                state.idempotency[key] = (fingerprint, 200, json.dumps(data))
        if outbox:  # sent after the answer (the caller may hold a database lock)

            def deliver() -> None:
                for event_type, obj in outbox:
                    state.send_event(event_type, obj)

            threading.Thread(target=deliver, daemon=True).start()
        return 200, data

    def get_or_404(table: Table[dict[str, Any]], ident: str, request: Request) -> dict[str, Any]:
        obj = table.get(ident)
        if obj is None or state.owner.get(ident) != request.state.merchant:  # another merchant's: not found
            raise KomojuError(404, "not_found", f"The requested resource ({ident}) could not be found.", "id")
        return obj

    def amount_of(p: dict[str, Any], param: str = "amount") -> int:
        if p.get(param) in (None, ""):
            raise _missing(param)
        amount = _int(p[param], param)
        if amount < 1:
            raise _invalid(param, "must be greater than 0")
        return amount

    def currency_of(p: dict[str, Any]) -> str:
        if not p.get("currency"):
            raise _missing("currency")
        currency = str(p["currency"]).upper()
        if currency != "JPY":
            raise KomojuError(400, "invalid_currency", f"The currency {currency} is not supported", "currency")
        return currency

    # ------------------------------------------------------------------ sessions

    def create_session(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        for name in p:
            if name not in SESSION_PARAMS:
                raise _invalid(name, "is not a known parameter")
        mode = str(p.get("mode") or "payment")
        if mode != "payment":
            raise _invalid("mode", "must be payment in this sandbox")
        amount = amount_of(p)
        currency = currency_of(p)
        return_url = str(p.get("return_url") or "")
        if return_url and not return_url.startswith(("http://", "https://")):
            raise _invalid("return_url", "must be an http(s) URL")
        types = p.get("payment_types")
        if isinstance(types, dict):
            types = [types[k] for k in sorted(types, key=lambda k: int(k) if str(k).isdigit() else 0)]
        types = [str(x) for x in (types or PAYMENT_TYPES)]
        for kind in types:
            if kind not in PAYMENT_TYPES:
                raise KomojuError(400, "invalid_payment_type", f"Payment type {kind} is not available", "payment_types")
        if "konbini" in types and not KONBINI_MIN <= amount <= KONBINI_MAX:
            types = [x for x in types if x != "konbini"]  # KOMOJU leaves out what the amount does not allow
        lines = p.get("line_items") or []
        if isinstance(lines, dict):
            lines = [lines[k] for k in sorted(lines, key=lambda k: int(k) if str(k).isdigit() else 0)]
        items: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if not isinstance(line, dict) or not line.get("description"):
                raise _missing(f"line_items[{i}][description]")
            items.append(
                _given(
                    {
                        "amount": _int(line.get("amount", 0), f"line_items[{i}][amount]"),
                        "description": str(line["description"]),
                        "quantity": _int(line.get("quantity", 1), f"line_items[{i}][quantity]"),
                        "image": line.get("image"),
                        "external_product_num": line.get("external_product_num"),
                    }
                )
            )
        if items and sum(i["amount"] * i["quantity"] for i in items) != amount:
            raise _invalid("line_items", "must add up to the amount")
        metadata = p.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _invalid("metadata", "must be an object")
        payment_data = p.get("payment_data") or {}
        if not isinstance(payment_data, dict):
            raise _invalid("payment_data", "must be an object")
        if p.get("external_order_num"):
            payment_data = {**payment_data, "external_order_num": str(p["external_order_num"])}
        seconds = _int(p.get("expires_in_seconds", SESSION_SECONDS), "expires_in_seconds")
        if not 1 <= seconds <= SESSION_SECONDS:
            raise _invalid("expires_in_seconds", f"must be between 1 and {SESSION_SECONDS}")
        locale = str(p.get("default_locale") or "ja")
        if locale not in ("ja", "en", "ko"):  # KOMOJU's Locale (the SDK's models/locale.ts)
            raise _invalid("default_locale")
        sid = _new_id()
        now = time.time()
        obj: dict[str, Any] = {
            "id": sid,
            "resource": "session",
            "mode": mode,
            "amount": amount,
            "currency": currency,
            "session_url": f"{base_of(request)}/sessions/{sid}",
            "return_url": return_url or None,
            "default_locale": locale,
            "payment_methods": [{"type": kind, "amount": amount, "currency": currency} for kind in types],
            "created_at": _iso(now),
            "cancelled_at": None,
            "completed_at": None,
            "status": "pending",
            "expired": False,
            "merchant": {"name": str(metadata.get("merchant_name") or "")},
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "payment_data": _given(
                {
                    "external_order_num": payment_data.get("external_order_num"),
                    "name": payment_data.get("name"),
                    "name_kana": payment_data.get("name_kana"),
                    "capture": str(payment_data.get("capture") or "auto"),
                }
            ),
            "line_items": items,
        }
        if p.get("email"):
            obj["email"] = str(p["email"])
        obj["_expires"] = now + seconds
        state.sessions[sid] = obj
        state.owner[sid] = request.state.merchant
        return public(obj)

    def public(obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        if out.get("resource") == "session":
            if obj["status"] == "pending" and time.time() > obj["_expires"]:
                out["expired"] = True
            pid = obj.get("_payment")
            if pid:  # as KOMOJU's model: no ``payment`` until there is one
                out["payment"] = state.payments[pid]
        return out

    def show_session(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        return public(get_or_404(state.sessions, request.path_params["sid"], request))

    def cancel_session(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        obj = get_or_404(state.sessions, request.path_params["sid"], request)
        if obj["status"] != "pending":
            raise KomojuError(422, "unprocessable_entity", f"The session cannot be cancelled: it is {obj['status']}")
        obj["status"] = "cancelled"
        obj["cancelled_at"] = _iso()
        return public(obj)

    # ------------------------------------------------------------------ payments

    def new_payment(
        *,
        amount: int,
        currency: str,
        kind: str,
        details: dict[str, Any],
        base: str,
        external_order_num: Any,
        metadata: dict[str, Any],
        session_id: str | None,
        locale: str,
        merchant: str,
        expiry_days: int = EXPIRY_DAYS,
    ) -> dict[str, Any]:
        pid = _new_id()
        now = time.time()
        deferred = kind in DEFERRED
        # deadline: 23:59:59 Japan time, ``expiry_days`` days on
        jst_day = (int(now) + 9 * 3600) // 86400 + expiry_days
        deadline = jst_day * 86400 + 86399 - 9 * 3600
        shown: dict[str, Any] = {"type": kind, "email": details.get("email")}
        if kind == "credit_card":
            shown.update(brand="visa", last_four_digits="4242", month=12, year=2030, name="SANDBOX TESTER")
        elif kind == "paypay":
            shown.update(redirect_url=None)
        elif kind == "konbini":
            store = str(details.get("store") or "lawson")
            shown.update(
                store=store,
                confirmation_code=_digits(4) if store in ("lawson", "ministop", "family-mart") else None,
                receipt=_digits(13 if store == "seven-eleven" else 11),
                instructions_url=f"{base}/instructions/{pid}",
            )
        elif kind == "pay_easy":
            shown.update(
                bank_id="58091",
                customer_id=_digits(20),
                confirmation_id=_digits(6),
                instructions_url=f"{base}/instructions/{pid}",
                payment_url=f"{base}/instructions/{pid}",
            )
        elif kind == "bank_transfer":
            shown.update(
                order_id=_digits(7),
                bank_name="三井住友銀行",
                account_branch_name="カモメ支店",
                account_number=_digits(7),
                account_type="普通預金",
                account_name="カ）コモジュ",
                instructions_url=f"{base}/instructions/{pid}",
                payment_deadline=_iso(deadline),
            )
        payment: dict[str, Any] = {
            "id": pid,
            "resource": "payment",
            "status": "authorized" if deferred else "captured",
            "amount": amount,
            "tax": 0,
            "customer": None,
            "payment_deadline": _iso(deadline) if deferred else None,
            "payment_details": shown,
            "payment_method_fee": 0,
            "total": amount,
            "currency": currency,
            "description": None,
            "captured_at": None if deferred else _iso(now),
            "external_order_num": external_order_num,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "created_at": _iso(now),
            "amount_refunded": 0,
            "locale": locale,
            "session": session_id,
            "customer_family_name": details.get("family_name"),
            "customer_given_name": details.get("given_name"),
            "mcc": None,
            "statement_descriptor": {},  # an object, as KOMOJU's model: none set
            "refunds": [],
            "refund_requests": [],
        }
        state.payments[pid] = payment
        state.owner[pid] = merchant
        return payment

    def create_payment(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        amount = amount_of(p)
        currency = currency_of(p)
        details = p.get("payment_details")
        if not isinstance(details, dict) or not details.get("type"):
            raise _missing("payment_details[type]")
        kind = str(details["type"])
        if kind not in DEFERRED:
            # card numbers never reach this system: server-side payments here are vouchers only
            raise KomojuError(400, "invalid_payment_type", f"Payment type {kind} is not available", "payment_details")
        if not details.get("email"):
            raise _missing("payment_details[email]")
        if kind == "konbini":
            if not details.get("store"):
                raise _missing("payment_details[store]")
            if str(details["store"]) not in KONBINI_STORES:
                raise _invalid("payment_details[store]")
            if not KONBINI_MIN <= amount <= KONBINI_MAX:
                raise _invalid("amount", f"must be between {KONBINI_MIN} and {KONBINI_MAX} for konbini")
        if kind in ("pay_easy", "bank_transfer"):
            for name in ("phone", "family_name", "given_name"):
                if not details.get(name):
                    raise _missing(f"payment_details[{name}]")
        metadata = p.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _invalid("metadata", "must be an object")
        days = _int(details.get("expiry_days", EXPIRY_DAYS), "payment_details[expiry_days]")
        payment = new_payment(
            amount=amount,
            currency=currency,
            kind=kind,
            details=details,
            base=base_of(request),
            external_order_num=p.get("external_order_num"),
            metadata=metadata,
            session_id=None,
            merchant=request.state.merchant,
            locale=str(p.get("locale") or "ja"),
            expiry_days=max(1, min(days, 60)),
        )
        outbox.append(("payment.authorized", dict(payment)))
        return payment

    def show_payment(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        return get_or_404(state.payments, request.path_params["pid"], request)

    def refund_payment(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        payment = get_or_404(state.payments, request.path_params["pid"], request)
        if payment["status"] != "captured":
            raise KomojuError(422, "unprocessable_entity", f"The payment cannot be refunded: it is {payment['status']}")
        if payment["payment_details"]["type"] in DEFERRED:
            # as KOMOJU: konbini, Pay-easy and bank transfers are refunded by a refund request (manual, to a bank account)
            raise KomojuError(
                422,
                "unprocessable_entity",
                f"{payment['payment_details']['type']} payments cannot be refunded through the API: "
                "use a refund request",
            )
        left = payment["total"] - payment["amount_refunded"]
        amount = _int(p["amount"], "amount") if p.get("amount") not in (None, "") else left
        if amount < 1 or amount > left:
            raise _invalid("amount", f"must be between 1 and {left}")
        refund = {
            "id": _new_id(),
            "resource": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment": payment["id"],
            "description": p.get("description"),
            "created_at": _iso(),
            "chargeback": False,
        }
        payment["refunds"].append(refund)
        payment["amount_refunded"] += amount
        if payment["amount_refunded"] >= payment["total"]:
            payment["status"] = "refunded"
        outbox.append(("payment.refunded", dict(payment)))
        return payment

    def cancel_payment(request: Request, p: dict[str, Any], outbox: list[Any]) -> dict[str, Any]:
        payment = get_or_404(state.payments, request.path_params["pid"], request)
        if payment["status"] not in ("pending", "authorized"):
            raise KomojuError(
                422, "unprocessable_entity", f"The payment cannot be cancelled: it is {payment['status']}"
            )
        payment["status"] = "cancelled"
        outbox.append(("payment.cancelled", dict(payment)))
        return payment

    # ------------------------------------------------------------------ the hosted page

    def hosted_page(request: Request, message_key: str = "", form: Any = None) -> Response:
        obj = state.sessions.get(request.path_params["sid"])
        lang = _lang(request, obj, form)
        title = t("komoju.checkout", lang)
        if obj is None:
            return _page(title, f"<p>{t('komoju.not_found', lang)}</p>", lang)
        if obj["status"] != "pending" or time.time() > obj["_expires"]:
            return _page(title, f"<p>{t('komoju.closed', lang)}</p>", lang)
        kinds = [m["type"] for m in obj["payment_methods"]]
        radios = "".join(
            f"<label><input type=radio name=payment_type value={kind}{' checked' if i == 0 else ''}> "
            f"{html.escape(t(f'komoju.type.{kind}', lang))}</label>"
            for i, kind in enumerate(kinds)
        )
        stores = ""
        if "konbini" in kinds:
            options = "".join(
                f"<option value={s}>{html.escape(t(f'komoju.store.{s}', lang))}</option>" for s in KONBINI_STORES
            )
            stores = f"<label>{t('komoju.store', lang)} <select name=store>{options}</select></label>"
        outcomes = "".join(
            f"<label><input type=radio name=outcome value={o}{' checked' if o == 'success' else ''}> "
            f"{html.escape(t(f'komoju.outcome.{o}', lang))}</label>"
            for o in ("success", "failure")
        )
        err = f"<p class=err role=alert>{html.escape(t(message_key, lang))}</p>" if message_key else ""
        lines = "".join(
            f"<p>{html.escape(i['description'])} × {i['quantity']}: {yen(i['amount'] * i['quantity'])}</p>"
            for i in obj["line_items"]
        )
        merchant = str(obj["metadata"].get("merchant_name") or "")
        shown_merchant = (
            f"<p id=merchant>{html.escape(t('komoju.merchant', lang, name=merchant))}</p>" if merchant else ""
        )
        action = html.escape(str(request.url.path))
        body = (
            f"<h1>{title}</h1>{shown_merchant}{err}{lines}<p class=amt>{yen(obj['amount'])}</p>"
            f'<form method=post action="{action}"><input type=hidden name=lang value={lang}>'
            f"<fieldset><legend>{t('komoju.method', lang)}</legend>{radios}{stores}</fieldset>"
            f"<fieldset><legend>{t('komoju.outcome', lang)}</legend>{outcomes}</fieldset>"
            f"<button type=submit>{t('komoju.pay', lang)}</button></form>"
            f'<form method=post action="{action}"><input type=hidden name=lang value={lang}>'
            f"<button type=submit name=cancel value=1>{t('komoju.cancel', lang)}</button></form>"
        )
        return _page(title, body, lang)

    async def hosted_page_get(request: Request) -> Response:
        return hosted_page(request)

    async def hosted_page_post(request: Request) -> Response:
        form = await request.form()
        return await run_in_threadpool(_complete, request, form)

    def _return(obj: dict[str, Any]) -> str:
        url = str(obj.get("return_url") or "")
        if not url:
            return ""
        return f"{url}{'&' if '?' in url else '?'}session_id={obj['id']}"

    def _complete(request: Request, form: Any) -> Response:
        sid = request.path_params["sid"]
        with state.lock:
            obj = state.sessions.get(sid)
            if obj is None or obj["status"] != "pending" or time.time() > obj["_expires"]:
                return hosted_page(request, form=form)
            if form.get("cancel"):
                obj["status"] = "cancelled"
                obj["cancelled_at"] = _iso()
                url = _return(obj)
                return RedirectResponse(url, status_code=303) if url else hosted_page(request, form=form)
            kind = str(form.get("payment_type") or "")
            outcome = str(form.get("outcome") or "success")
            store = str(form.get("store") or "lawson")
            kinds = [m["type"] for m in obj["payment_methods"]]
            if kind not in kinds or outcome not in ("success", "failure") or store not in KONBINI_STORES:
                return hosted_page(request, "komoju.invalid_choice", form)
            if outcome == "failure" and kind not in DEFERRED:
                return hosted_page(request, "komoju.declined", form)  # the payer may try again
            payment = new_payment(
                amount=obj["amount"],
                currency=obj["currency"],
                kind=kind,
                details={"email": obj.get("email") or "sandbox@example.com", "store": store},
                base=base_of(request),
                external_order_num=obj["payment_data"].get("external_order_num"),
                metadata=obj["metadata"],
                session_id=sid,
                merchant=state.owner[sid],
                locale=obj["default_locale"],
            )
            obj["_payment"] = payment["id"]
            obj["status"] = "completed"
            obj["completed_at"] = _iso()
            if outcome == "failure":
                payment["status"] = "failed"
        kind_event = {"captured": "payment.captured", "authorized": "payment.authorized", "failed": "payment.failed"}
        state.send_event(kind_event[payment["status"]], payment)
        url = _return(obj)
        if url:
            return RedirectResponse(url, status_code=303)
        lang = _lang(request, obj, form)
        return _page(t("komoju.checkout", lang), f"<p>{t('komoju.done', lang)}</p>", lang)

    # ------------------------------------------------------------------ the sandbox's own pages

    async def pending_list(request: Request) -> Response:
        lang = _lang(request)
        rows = "".join(
            f"<tr><td>{html.escape(p['id'][-8:])}</td><td>{html.escape(_type_label(p, lang))}"
            f"</td><td>{yen(p['total'])}</td><td>"
            f'<form method=post action="{html.escape(base_of(request))}/pending/{p["id"]}">'
            f"<input type=hidden name=lang value={lang}>"
            f"<button name=result value=captured>{t('komoju.pay_at_store', lang)}</button>"
            f"<button name=result value=expired>{t('komoju.mark_expired', lang)}</button></form></td></tr>"
            for p in state.payments.values()
            if p["status"] == "authorized"
        )
        body = f"<h1>{t('komoju.pending', lang)}</h1>" + (
            f"<table>{rows}</table>" if rows else f"<p>{t('komoju.none', lang)}</p>"
        )
        return _page(t("komoju.pending", lang), body, lang)

    def settle(pid: str, result: str) -> dict[str, Any] | None:
        """The payer paid at the store (``captured``) or let it lapse (``expired``)."""
        with state.lock:
            payment = state.payments.get(pid)
            if payment is None or payment["status"] != "authorized" or result not in ("captured", "expired"):
                return None
            payment["status"] = result
            if result == "captured":
                payment["captured_at"] = _iso()
        state.send_event(f"payment.{result}", payment)
        return payment

    async def pending_mark(request: Request) -> Response:
        form = await request.form()
        lang = _lang(request, form=form)
        done = await run_in_threadpool(settle, request.path_params["pid"], str(form.get("result", "")))
        if done is None:
            return _page(t("komoju.pending", lang), f"<p>{t('komoju.not_pending', lang)}</p>", lang)
        return RedirectResponse(f"{base_of(request)}/pending?lang={lang}", status_code=303)

    async def instructions(request: Request) -> Response:
        lang = _lang(request)
        title = t("komoju.instructions", lang)
        payment = state.payments.get(request.path_params["pid"])
        if payment is None or payment["payment_details"]["type"] not in DEFERRED:
            return _page(title, f"<p>{t('komoju.not_found', lang)}</p>", lang)
        d = payment["payment_details"]
        labels = {
            "konbini": ("store", "receipt", "confirmation_code"),
            "pay_easy": ("bank_id", "customer_id", "confirmation_id"),
            "bank_transfer": ("bank_name", "account_branch_name", "account_type", "account_number", "account_name"),
        }[d["type"]]
        rows = "".join(
            f"<tr><th>{t(f'komoju.field.{name}', lang)}</th><td>{html.escape(str(d.get(name) or '-'))}</td></tr>"
            for name in labels
        )
        deadline = ""
        if payment.get("payment_deadline"):
            when = datetime.strptime(payment["payment_deadline"], "%Y-%m-%dT%H:%M:%S.000Z")
            deadline = f"<p id=deadline>{html.escape(t('komoju.deadline', lang, time=people_datetime(when, lang, SANDBOX_TIMEZONE)))}</p>"
        status = html.escape(t(f"komoju.status.{payment['status']}", lang))
        body = f"<h1>{title}</h1><p class=amt>{yen(payment['total'])}</p><p>{status}</p>{deadline}<table>{rows}</table>"
        return _page(title, body, lang)

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"deliveries": state.deliveries.values()})

    async def add_merchant(request: Request) -> Response:
        """The sandbox's "dashboard": a merchant account (its secret key) with
        its own webhook URL and secret, as a KOMOJU connection configures them."""
        try:
            data = json.loads(await request.body())
            key, url, secret = str(data["secret_key"]), str(data["webhook_url"]), str(data["webhook_secret"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse(_missing("secret_key, webhook_url, webhook_secret").body(), status_code=400)
        if not key or not url.startswith(("http://", "https://")):
            return JSONResponse(_invalid("webhook_url").body(), status_code=400)
        with state.lock:
            state.merchants[key] = {"webhook_url": url, "webhook_secret": secret}
        return JSONResponse({"merchants": len(state.merchants)})

    def route(path: str, handler: Any, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await api(request, handler)

        return Route(path, endpoint, methods=[method])

    async def unknown(request: Request) -> Response:
        return JSONResponse(
            KomojuError(404, "not_found", f"The requested resource ({request.url.path}) could not be found.").body(),
            status_code=404,
        )

    app = Starlette(
        routes=[
            route("/api/v1/sessions", create_session, "POST"),
            route("/api/v1/sessions/{sid}", show_session, "GET"),
            route("/api/v1/sessions/{sid}/cancel", cancel_session, "POST"),
            route("/api/v1/payments", create_payment, "POST"),
            route("/api/v1/payments/{pid}", show_payment, "GET"),
            route("/api/v1/payments/{pid}/refund", refund_payment, "POST"),
            route("/api/v1/payments/{pid}/cancel", cancel_payment, "POST"),
            Route("/api/v1/{rest:path}", unknown, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
            Route("/sessions/{sid}", hosted_page_get, methods=["GET"]),
            Route("/sessions/{sid}", hosted_page_post, methods=["POST"]),
            Route("/instructions/{pid}", instructions, methods=["GET"]),
            Route("/pending", pending_list, methods=["GET"]),
            Route("/pending/{pid}", pending_mark, methods=["POST"]),
            Route("/_deliveries", deliveries, methods=["GET"]),
            Route("/_merchants", add_merchant, methods=["POST"]),
        ],
        middleware=[Middleware(UnitOfWorkMiddleware, store=state.store)],
    )
    app.state.sandbox = state
    app.state.settle = settle
    return app


def deadline_of(payment: dict[str, Any]) -> int:
    """A payment's ``payment_deadline`` as unix time (0: none)."""
    raw = payment.get("payment_deadline")
    if not raw:
        return 0
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="KOMOJU-compatible payment sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--secret-key", default=None, help="API key accepted (default: settings)")
    parser.add_argument("--webhook-secret", default=None, help="signing secret (default: settings)")
    parser.add_argument("--webhook-url", default=None, help="where events go (default: settings)")
    args = parser.parse_args(argv)
    app = create_app(KomojuSandboxConfig(args.secret_key, args.webhook_secret, args.webhook_url))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
