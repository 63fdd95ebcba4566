"""The payment sandbox: a real HTTP service speaking the Stripe API for the
parts we use, so the production adapter is the code under test. The official
``stripe`` package is its oracle (tests/test_stripe_contract.py).

- ``POST /v1/checkout/sessions`` (form-encoded, ``Authorization: Bearer <key>``,
  optional ``Idempotency-Key``) creates a session and answers its JSON with a
  ``url`` to the hosted page; ``GET /v1/checkout/sessions`` lists (newest
  first, ``limit``/``starting_after``/``ending_before``, ``status``,
  ``payment_intent`` and ``customer`` filters); ``GET .../{id}`` retrieves
  (``expand[]=payment_intent``); ``GET .../{id}/line_items``;
  ``POST .../{id}/expire`` expires an open one.
- ``POST /v1/customers``, ``GET /v1/customers/{id}``;
  ``GET /v1/payment_intents/{id}`` (``expand[]=payment_method``,
  ``latest_charge``) with Stripe's ``next_action`` for vouchers
  (``konbini_display_details``, ``display_bank_transfer_instructions``);
  ``POST /v1/refunds`` (full or partial, ``charge.refunded`` event).
- ``POST /v1/payment_intents`` (issue 14, the voucher route without the
  hosted page): ``payment_method_types[]=konbini`` with
  ``payment_method_data[type]=konbini`` and the billing name and e-mail
  Stripe requires, or ``customer_balance`` with a ``customer`` and
  ``jp_bank_transfer``; with ``confirm=true`` the intent is
  ``requires_action`` with the voucher in ``next_action``. Marked paid on
  ``GET /pending`` it sends ``payment_intent.succeeded`` (expired:
  ``payment_intent.payment_failed``).
- As Stripe: errors are ``{"error": {type, code, param, message, doc_url}}``;
  every answer carries ``Request-Id``; an idempotency key replays the first
  answer with ``Idempotent-Replayed: true`` and refuses different parameters
  (400 ``idempotency_error``); konbini takes ¥120 to ¥300,000; bank transfer
  (``customer_balance``) needs a ``customer``, ``funding_type=bank_transfer``
  and ``bank_transfer[type]=jp_bank_transfer``; ``payment_intent`` is set when
  the customer completes the session, not at creation.
- ``GET /pay/{id}`` is the hosted page (plain HTML, no JavaScript): the tester
  picks card, bank account or convenience store, and success, pending,
  failure or cancel. Card + failure shows a decline and lets them try again (as Stripe
  does); bank + failure and konbini + failure complete the session unpaid
  then send ``checkout.session.async_payment_failed``; bank + success sends
  ``completed`` (unpaid) then ``async_payment_succeeded``; bank + pending and
  konbini + success (or pending) stay pending (``completed`` with ``payment_status=unpaid`` and a voucher on
  the payment intent) until the tester marks it paid or expired on
  ``GET /pending``; cancel returns to ``cancel_url``. ``GET /voucher/{pi}`` is
  the hosted voucher.
- Webhooks are Stripe events (``pending_webhooks``, ``request``) signed
  ``Stripe-Signature: t=...,v1=hex(HMAC-SHA256(secret, f"{t}.{body}"))`` and
  POSTed to the webhook URL (by default ``{public_base_url}/webhooks/stripe``)
  before the browser is redirected; ``GET /_deliveries`` lists each delivery
  with its body and signature header.

Mounted at ``/sim/stripe`` in ``web.app``; alone:
``python -m smspay_app.providers.payments.sandbox --port 8787``.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from smspay_app.domain.formatting import people_datetime, yen
from smspay_app.i18n import chosen_language, t
from smspay_app.providers.payments.signature import sign_header
from smspay_app.providers.sim_store import Codec, SimStore, Table, UnitOfWorkMiddleware

API_VERSION = "2026-10-28.endive"  # the version the adapter pins (Stripe-Version)
METHODS = {"card": "card", "bank": "customer_balance", "konbini": "konbini"}
# Labels: sandbox.method.<method> and sandbox.outcome.<outcome> (i18n/simulators.py).
OUTCOMES = ("success", "pending", "failure", "cancel")
# The sandbox's pages show times in Japan time (konbini deadlines are Japan time).
SANDBOX_TIMEZONE = "Asia/Tokyo"
KONBINI_MIN, KONBINI_MAX = 120, 300_000
JPY_MIN = 50
KONBINI_STORES = ("familymart", "lawson", "ministop", "seicomart")
CREATE_PARAMS = {
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "payment_method_types",
    "payment_method_options",
    "customer",
    "customer_email",
    "customer_creation",
    "expires_at",
    "locale",
    "payment_intent_data",
    "expand",
    "ui_mode",
}
INTENT_PARAMS = {
    "amount",
    "currency",
    "confirm",
    "customer",
    "description",
    "expand",
    "metadata",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "receipt_email",
}
DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error answered in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind

    def body(self, request_id: str) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOCS + self.code
        if self.param:
            err["param"] = self.param
        err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": err}


def parse_form(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in items:
        parts = re.findall(r"[^\[\]]+|\[\]", raw_key)
        if not parts:
            continue
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            child_default: Any = [] if nxt == "[]" else {}
            if isinstance(node, list):  # only from "[]"
                if last:
                    node.append(value)
                    break
                node.append(child_default)
                node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], dict | list):
                    node[part] = child_default
                node = node[part]
    return root


def _as_list(value: Any) -> list[Any]:
    """Indexed maps ``{"0": x, "1": y}`` (or ``[]`` lists) as a list, by index."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        try:
            return [value[k] for k in sorted(value, key=int)]
        except ValueError:
            return []
    return []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise StripeError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from exc


def _ids_in(data: Any) -> list[str]:
    """The id of an API answer's object (a list's objects are already known)."""
    ident = data.get("id") if isinstance(data, dict) and data.get("object") != "list" else None
    return [str(ident)] if ident else []


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}"


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


@dataclass(frozen=True)
class SandboxAccount:
    """A further merchant account of the sandbox (an organisation's own
    payment connection): its API key is the dict key in ``accounts``; its
    events are signed with ``webhook_secret`` and posted to ``webhook_url``."""

    webhook_secret: str
    webhook_url: str


@dataclass
class SandboxConfig:
    secret_key: str | None = None  # None: settings.stripe_secret_key at request time
    webhook_secret: str | None = None  # None: settings.stripe_webhook_secret
    webhook_url: str | None = None  # None: {settings.public_base_url}/webhooks/stripe
    # further accounts by API key, fixed for this app (those added at run time,
    # ``POST /_accounts``, are in the store: ``ACCOUNTS_TABLE``)
    accounts: dict[str, SandboxAccount] = field(default_factory=dict)


# Further accounts added at run time (``POST /_accounts``, and the mounted
# sandbox's registrations below) live in the sandbox's store, so every process
# of the installation knows them (issue 17 item 2).
ACCOUNTS_TABLE = "stripe.accounts"
_ACCOUNT = Codec[SandboxAccount](lambda a: [a.webhook_secret, a.webhook_url], lambda v: SandboxAccount(v[0], v[1]))


def mounted_accounts(store: SimStore | None = None) -> Table[SandboxAccount]:
    """The further accounts added at run time to the sandbox on ``store``
    (default: the installation's, the one mounted in this server by ``web.app``)."""
    return (store or SimStore.for_installation()).table(ACCOUNTS_TABLE, _ACCOUNT)


def register_mounted_account(
    secret_key: str, *, webhook_url: str, webhook_secret: str, store: SimStore | None = None
) -> None:
    """A further account of the mounted sandbox (what ``POST /_accounts`` does):
    a sandbox or Stripe connection an admin adds that points at this server's
    sandbox registers its key, webhook URL and secret (``services.connections``),
    as a business enters them in Stripe's dashboard."""
    mounted_accounts(store)[secret_key] = SandboxAccount(webhook_secret, webhook_url)


_IDEMPOTENCY = Codec[tuple[str, int, bytes]](
    lambda v: [v[0], v[1], v[2].decode()], lambda v: (v[0], v[1], v[2].encode())
)


@dataclass
class SandboxState:
    """Kept in a ``SimStore`` (providers/sim_store.py), seen by every process of the installation."""

    config: SandboxConfig
    store: SimStore = field(default_factory=SimStore)

    def __post_init__(self) -> None:
        table: Callable[[str], Table[dict[str, Any]]] = self.store.table
        self.sessions, self.intents = table("stripe.sessions"), table("stripe.intents")
        self.line_items: Table[list[dict[str, Any]]] = self.store.table("stripe.line_items")
        self.methods, self.charges = table("stripe.methods"), table("stripe.charges")
        self.customers, self.refunds = table("stripe.customers"), table("stripe.refunds")
        # idempotency key -> (fingerprint of the request, status, body)
        self.idempotency = self.store.table("stripe.idempotency", _IDEMPOTENCY)
        self.deliveries, self.lock = table("stripe.deliveries"), self.store.mutex
        # object id -> the API key of the account that created it (the sandbox's
        # own record of "whose" a session, customer, intent or refund is); an
        # object of another account is a 404, as at Stripe
        self.account_of: Table[str] = self.store.table("stripe.account_of")
        self.accounts = mounted_accounts(self.store)  # added at run time (``POST /_accounts``)

    def account(self, key: str) -> SandboxAccount | None:
        """The account of an API key: a further account, else the default one
        (``None`` when the key is neither)."""
        if key in self.config.accounts:
            return self.config.accounts[key]
        if key and (added := self.accounts.get(key)) is not None:
            return added
        if secrets.compare_digest(key.encode(), self.secret_key().encode()):
            return SandboxAccount(self.webhook_secret(), self.webhook_url())
        return None

    def add_account(self, secret_key: str, *, webhook_secret: str, webhook_url: str) -> None:
        self.accounts[secret_key] = SandboxAccount(webhook_secret, webhook_url)

    def owner(self, ident: str) -> str:
        """The API key whose account ``ident`` belongs to (the default one's
        when not recorded)."""
        return self.account_of.get(ident) or self.secret_key()

    def secret_key(self) -> str:
        if self.config.secret_key is not None:
            return self.config.secret_key
        from smspay_app.settings import get_settings

        return get_settings().stripe_secret_key

    def webhook_secret(self) -> str:
        if self.config.webhook_secret is not None:
            return self.config.webhook_secret
        from smspay_app.settings import get_settings

        return get_settings().stripe_webhook_secret

    def webhook_url(self) -> str:
        if self.config.webhook_url is not None:
            return self.config.webhook_url
        from smspay_app.settings import get_settings

        return f"{get_settings().public_base_url.rstrip('/')}/webhooks/stripe"

    def send_event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        account_key: str | None = None,
    ) -> dict[str, Any]:
        """Sign and POST one event (Stripe's shape) to the webhook URL of the
        account that owns ``obj`` (``account_key``, else the recorded owner);
        keeps a delivery record with the body and the signature header."""
        key = account_key or self.owner(str(obj.get("id", "")))
        account = self.account(key) or SandboxAccount(self.webhook_secret(), self.webhook_url())
        self.store.flush()  # the receiver may call back: it sees what this request changed
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        header = sign_header(account.webhook_secret, body)
        record: dict[str, Any] = {
            "event_id": event["id"],
            "type": event_type,
            "status": None,
            "body": body.decode(),
            "signature": header,
        }
        try:
            response = httpx.post(
                account.webhook_url,
                content=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": header},
                timeout=15,
            )
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["status"] = f"error: {type(exc).__name__}"
        self.deliveries.append(record)
        return event


def _lang(request: Request, obj: dict[str, Any] | None = None, form: Any = None) -> str:
    """A form's or ``?lang=`` choice first, then the checkout session's
    ``locale`` (what the merchant asked for), then the browser's language;
    Japanese by default."""
    locale = str(obj.get("locale") or "") if obj else ""
    return chosen_language(
        str(form.get("lang") or "") if form is not None else None,
        request.query_params.get("lang"),
        locale if locale != "auto" else None,
        accept=request.headers.get("accept-language"),
    )


def _page(title: str, body: str, lang: str = "ja") -> HTMLResponse:
    doc = (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:0;background:#f1f4f9;color:#1b2330}"
        "main{max-width:28rem;margin:0 auto;padding:1rem}"
        ".card{background:#fff;border-radius:10px;padding:1rem;box-shadow:0 1px 3px #0002}"
        ".sb{background:#f6c343;color:#000;text-align:center;font-size:.8rem;padding:.3rem}"
        "fieldset{border:1px solid #ccd;border-radius:8px;margin:.6rem 0}"
        "label{display:block;padding:.35rem 0}"
        "button{width:100%;padding:.8rem;font-size:1rem;border:0;border-radius:8px;"
        "background:#635bff;color:#fff;margin-top:.5rem}"
        ".amt{font-size:1.6rem;font-weight:700}.err{color:#b00020}.merchant{font-weight:600}"
        "table{width:100%;border-collapse:collapse}td{padding:.3rem;border-top:1px solid #eee}"
        f"</style></head><body><div class=sb>{t('sandbox.banner', lang)}</div>"
        f"<main><div class=card>{body}</div></main></body></html>"
    )
    return HTMLResponse(doc, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def create_app(config: SandboxConfig | None = None, store: SimStore | None = None) -> Starlette:  # noqa: C901
    """``store``: where the state lives (default: private to this process)."""
    state = SandboxState(config=config or SandboxConfig(), store=store or SimStore())

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/") + str(request.scope.get("root_path", "")).rstrip("/")

    def check_auth(request: Request) -> str:
        """The API key of the request's account (401 unless it is one)."""
        header = request.headers.get("authorization", "")
        if not header:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        key = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if not key or state.account(key) is None:
            shown = header.removeprefix("Bearer ")
            raise StripeError(401, f"Invalid API Key provided: {shown[:8]}{'*' * max(0, len(shown) - 12)}{shown[-4:]}")
        return key

    def answer(
        data: dict[str, Any], request_id: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse(
            data,
            status_code=status,
            headers={"Request-Id": request_id, "Stripe-Version": API_VERSION, **(headers or {})},
        )

    async def api(request: Request, handler: Any, *, idempotent: bool = False) -> Response:
        """Authentication, Stripe's error shape, ``Request-Id`` and (for POSTs)
        idempotency keys around one API handler ``handler(request, params, rid)``."""
        rid = _new_id("req")
        try:
            request.state.account_key = check_auth(request)
            if request.method == "POST":
                form = await request.form()
                items = [(k, str(v)) for k, v in form.multi_items()]
            else:
                items = [(k, str(v)) for k, v in request.query_params.multi_items()]
            params = parse_form(items)
            key = request.headers.get("idempotency-key") if idempotent else None
            # idempotency keys are per account, as at Stripe
            scoped = f"{request.state.account_key}\n{key}" if key else None
            fingerprint = hashlib.sha256(
                (request.url.path + "\n" + json.dumps(sorted(items), ensure_ascii=False)).encode()
            ).hexdigest()
            from starlette.concurrency import run_in_threadpool

            replayed, data = await run_in_threadpool(run, handler, request, params, rid, scoped, fingerprint)
            headers = {"Idempotency-Key": key} if key else {}
            if replayed:
                headers["Idempotent-Replayed"] = "true"
            return answer(data, rid, 200, headers)
        except StripeError as exc:
            return answer(exc.body(rid), rid, exc.status)

    def run(
        handler: Any, request: Request, params: dict[str, Any], rid: str, key: str | None, fingerprint: str
    ) -> tuple[bool, dict[str, Any]]:
        """One API call under the lock; its events are sent afterwards, from a
        thread (the receiver may call the API back)."""
        outbox: list[tuple[str, dict[str, Any]]] = []
        with state.lock:
            seen = state.idempotency.get(key) if key else None
            if seen is not None:
                if seen[0] != fingerprint:
                    shown = (key or "").split("\n", 1)[-1]
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{shown}' if you meant to execute a different "
                        "request.",
                        kind="idempotency_error",
                    )
                return True, json.loads(seen[2])
            data = handler(request, params, rid, outbox)
            owner = request.state.account_key
            for ident in _ids_in(data):
                state.account_of.setdefault(ident, owner)
            if key:
                state.idempotency[key] = (fingerprint, 200, json.dumps(data).encode())
        if outbox:  # sent after the answer, as Stripe does (the caller may hold a database lock)

            def deliver() -> None:
                for event_type, obj in outbox:
                    state.send_event(
                        event_type,
                        obj,
                        request_id=rid,
                        idempotency_key=(key or "").split("\n", 1)[-1] or None,
                        account_key=owner,
                    )

            threading.Thread(target=deliver, daemon=True).start()
        return False, data

    def unknown_params(params: dict[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)

    def get_or_404(
        table: Mapping[str, dict[str, Any]], ident: str, kind: str, param: str = "id", request: Request | None = None
    ) -> dict[str, Any]:
        obj = table.get(ident)
        if obj is not None and request is not None and state.owner(ident) != request.state.account_key:
            obj = None  # another account's object
        if obj is None:
            raise StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)
        return obj

    # ------------------------------------------------------------------ checkout sessions

    def create_session(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        unknown_params(p, CREATE_PARAMS)
        if "mode" not in p:
            raise StripeError(400, "Missing required param: mode.", code="parameter_missing", param="mode")
        if p["mode"] != "payment":
            raise StripeError(400, "Invalid mode: this sandbox supports only payment", param="mode")
        lines = _as_list(p.get("line_items"))
        if not lines:
            raise StripeError(
                400,
                "You must provide at least one line item in payment mode.",
                code="parameter_missing",
                param="line_items",
            )
        stored: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            pd = line.get("price_data") if isinstance(line, dict) else None
            if not isinstance(pd, dict):
                raise StripeError(
                    400,
                    "You must specify either `price` or `price_data` for each line item.",
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data]",
                )
            currency = str(pd.get("currency", "")).lower()
            if not currency:
                raise StripeError(
                    400,
                    "Missing required param: line_items[{i}][price_data][currency].".replace("{i}", str(i)),
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data][currency]",
                )
            if currency != "jpy":
                raise StripeError(400, f"Invalid currency: {currency}.", code="invalid_currency", param="currency")
            if "unit_amount" not in pd:
                raise StripeError(
                    400,
                    f"Missing required param: line_items[{i}][price_data][unit_amount].",
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data][unit_amount]",
                )
            unit = _int(pd["unit_amount"], f"line_items[{i}][price_data][unit_amount]")
            qty = _int(line.get("quantity", "1"), f"line_items[{i}][quantity]")
            name = str((pd.get("product_data") or {}).get("name", ""))
            if not name:
                raise StripeError(
                    400,
                    f"Missing required param: line_items[{i}][price_data][product_data][name].",
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data][product_data][name]",
                )
            if unit < 0 or qty < 1:
                raise StripeError(
                    400, "This value must be greater than or equal to 1.", param=f"line_items[{i}][quantity]"
                )
            stored.append(
                {
                    "id": _new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": unit * qty,
                    "amount_tax": 0,
                    "amount_total": unit * qty,
                    "currency": "jpy",
                    "description": name,
                    "price": {
                        "id": _new_id("price"),
                        "object": "price",
                        "currency": "jpy",
                        "unit_amount": unit,
                        "type": "one_time",
                        "product": _new_id("prod"),
                    },
                    "quantity": qty,
                }
            )
        total = sum(item["amount_total"] for item in stored)
        if total < JPY_MIN:
            raise StripeError(
                400,
                f"The Checkout Session's total amount due must add up to at least {yen(JPY_MIN)} jpy",
                code="amount_too_small",
            )
        methods = [str(m) for m in _as_list(p.get("payment_method_types"))] or ["card"]
        for m in methods:
            if m not in METHODS.values():
                raise StripeError(
                    400,
                    f"Invalid payment_method_types[]: {m}",
                    code="payment_method_invalid_parameter",
                    param="payment_method_types",
                )
        options = p.get("payment_method_options") or {}
        if "konbini" in methods and not KONBINI_MIN <= total <= KONBINI_MAX:
            raise StripeError(
                400,
                f"The konbini payment method requires an amount between {yen(KONBINI_MIN)} and {yen(KONBINI_MAX)} "
                f"(got {yen(total)}).",
                code="amount_too_small" if total < KONBINI_MIN else "amount_too_large",
                param="payment_method_types",
            )
        customer = p.get("customer")
        if customer is not None:
            get_or_404(state.customers, str(customer), "customer", "customer", request=request)
        if "customer_balance" in methods:
            cb = options.get("customer_balance") if isinstance(options, dict) else None
            cb = cb if isinstance(cb, dict) else {}
            if cb.get("funding_type") != "bank_transfer":
                raise StripeError(
                    400,
                    "payment_method_options[customer_balance][funding_type] must be bank_transfer to accept "
                    "customer_balance payments.",
                    code="parameter_missing",
                    param="payment_method_options[customer_balance][funding_type]",
                )
            bt: dict[str, Any] = cb["bank_transfer"] if isinstance(cb.get("bank_transfer"), dict) else {}
            if bt.get("type") != "jp_bank_transfer":
                raise StripeError(
                    400,
                    "A jpy bank transfer needs payment_method_options[customer_balance][bank_transfer][type]="
                    "jp_bank_transfer.",
                    code="parameter_missing",
                    param="payment_method_options[customer_balance][bank_transfer][type]",
                )
            if not customer:
                raise StripeError(
                    400,
                    "customer_balance payments require a customer: pass `customer`.",
                    code="parameter_missing",
                    param="customer",
                )
        success_url, cancel_url = p.get("success_url"), p.get("cancel_url")
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if not url:
                raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
            if not str(url).startswith(("http://", "https://")):
                raise StripeError(400, "Not a valid URL", code="url_invalid", param=name)
        metadata = p.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise StripeError(400, "Invalid object", param="metadata")
        konbini_opts = options.get("konbini") if isinstance(options, dict) else None
        konbini_days = _int((konbini_opts or {}).get("expires_after_days", "3"), "expires_after_days")
        sid = _new_id("cs_test")
        now = int(time.time())
        pmo: dict[str, Any] = {}
        if "card" in methods:
            pmo["card"] = {"request_three_d_secure": "automatic"}
        if "konbini" in methods:
            pmo["konbini"] = {"expires_after_days": konbini_days}
        if "customer_balance" in methods:
            pmo["customer_balance"] = {
                "bank_transfer": {"type": "jp_bank_transfer"},
                "funding_type": "bank_transfer",
            }
        obj: dict[str, Any] = {
            "id": sid,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None,
            "cancel_url": str(cancel_url),
            "client_reference_id": p.get("client_reference_id"),
            "client_secret": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": "jpy",
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": customer,
            "customer_creation": None if customer else "if_required",
            "customer_details": None,
            "customer_email": p.get("customer_email"),
            "expires_at": _int(p["expires_at"], "expires_at") if "expires_at" in p else now + 24 * 3600,
            "invoice": None,
            "invoice_creation": {"enabled": False, "invoice_data": {}},
            "livemode": False,
            "locale": p.get("locale"),
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_options": pmo,
            "payment_method_types": methods,
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": str(success_url),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{base_of(request)}/pay/{sid}",
        }
        state.sessions[sid] = obj
        state.line_items[sid] = stored
        return obj

    def expanded(obj: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        wanted = {str(x) for x in _as_list(p.get("expand"))}
        out = dict(obj)
        if obj.get("object") == "checkout.session" and "payment_intent" in wanted and obj.get("payment_intent"):
            out["payment_intent"] = expanded(state.intents[obj["payment_intent"]], {})
        if obj.get("object") == "payment_intent":
            if "payment_method" in wanted and obj.get("payment_method"):
                out["payment_method"] = state.methods[obj["payment_method"]]
            if "latest_charge" in wanted and obj.get("latest_charge"):
                out["latest_charge"] = state.charges[obj["latest_charge"]]
        return out

    def retrieve_session(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        obj = get_or_404(state.sessions, request.path_params["sid"], "checkout.session", request=request)
        return expanded(obj, p)

    def page_of(rows: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
        limit = _int(p.get("limit", "10"), "limit")
        if not 1 <= limit <= 100:
            raise StripeError(400, "This value must be between 1 and 100.", param="limit")
        ids = [r["id"] for r in rows]
        if p.get("starting_after"):
            if p["starting_after"] not in ids:
                raise StripeError(
                    404, f"No such object: '{p['starting_after']}'", code="resource_missing", param="starting_after"
                )
            rows = rows[ids.index(p["starting_after"]) + 1 :]
        elif p.get("ending_before"):
            if p["ending_before"] not in ids:
                raise StripeError(
                    404, f"No such object: '{p['ending_before']}'", code="resource_missing", param="ending_before"
                )
            before = rows[: ids.index(p["ending_before"])]
            rows = before[-limit:]
            return {"object": "list", "data": rows, "has_more": len(before) > limit, "url": url}
        return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}

    def list_sessions(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        mine = request.state.account_key
        rows = [s for s in reversed(state.sessions.values()) if state.owner(s["id"]) == mine]  # newest first
        for name in ("status", "payment_intent", "customer", "client_reference_id"):
            if p.get(name):
                rows = [s for s in rows if s.get(name) == p[name]]
        return page_of(rows, p, "/v1/checkout/sessions")

    def list_line_items(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        sid = request.path_params["sid"]
        get_or_404(state.sessions, sid, "checkout.session", request=request)
        return page_of(state.line_items[sid], p, f"/v1/checkout/sessions/{sid}/line_items")

    def expire_session(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        obj = get_or_404(state.sessions, request.path_params["sid"], "checkout.session", request=request)
        if obj["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a '
                f"status of {obj['status']}.",
            )
        obj["status"] = "expired"
        obj["url"] = None
        outbox.append(("checkout.session.expired", dict(obj)))
        return obj

    # ------------------------------------------------------------------ customers, intents, refunds

    def create_customer(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        unknown_params(p, {"name", "email", "phone", "metadata", "description"})
        cid = _new_id("cus")
        obj = {
            "id": cid,
            "object": "customer",
            "balance": 0,
            "created": int(time.time()),
            "currency": None,
            "description": p.get("description"),
            "email": p.get("email"),
            "livemode": False,
            "metadata": dict(p.get("metadata") or {}),
            "name": p.get("name"),
            "phone": p.get("phone"),
        }
        state.customers[cid] = obj
        return obj

    def retrieve_customer(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        return get_or_404(state.customers, request.path_params["cid"], "customer", request=request)

    def create_intent(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        """A PaymentIntent confirmed server-side (konbini / jp bank transfer)."""
        unknown_params(p, INTENT_PARAMS)
        for name in ("amount", "currency"):
            if name not in p:
                raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        amount = _int(p["amount"], "amount")
        if str(p["currency"]).lower() != "jpy":
            raise StripeError(400, "Invalid currency: this sandbox supports only jpy", param="currency")
        types = [str(x) for x in _as_list(p.get("payment_method_types"))]
        if len(types) != 1 or types[0] not in ("konbini", "customer_balance"):
            raise StripeError(
                400,
                "This sandbox creates payment intents for exactly one of konbini or customer_balance.",
                code="payment_intent_invalid_parameter",
                param="payment_method_types",
            )
        method = types[0]
        if amount < JPY_MIN or (method == "konbini" and not KONBINI_MIN <= amount <= KONBINI_MAX):
            raise StripeError(400, f"Invalid amount for {method}: {amount}.", code="amount_too_small", param="amount")
        confirm = str(p.get("confirm", "false")).lower() == "true"
        data = _mapping(p.get("payment_method_data"))
        options = _mapping(p.get("payment_method_options"))
        if data.get("type", method) != method:
            raise StripeError(
                400,
                "payment_method_data[type] must be one of the payment_method_types.",
                code="payment_intent_invalid_parameter",
                param="payment_method_data[type]",
            )
        billing = _mapping(data.get("billing_details"))
        if confirm and method == "konbini":
            for name in ("name", "email"):  # Stripe requires both for konbini
                if not str(billing.get(name) or "").strip():
                    param = f"payment_method_data[billing_details][{name}]"
                    raise StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
            if "@" not in str(billing["email"]):
                raise StripeError(
                    400,
                    "Invalid email address.",
                    code="email_invalid",
                    param="payment_method_data[billing_details][email]",
                )
        if method == "customer_balance":
            customer = str(p.get("customer") or "")
            if not customer:
                raise StripeError(
                    400,
                    "A customer is required for customer_balance payments.",
                    code="parameter_missing",
                    param="customer",
                )
            get_or_404(state.customers, customer, "customer", "customer")
            cb = _mapping(options.get("customer_balance"))
            transfer = _mapping(cb.get("bank_transfer"))
            if cb.get("funding_type") != "bank_transfer" or transfer.get("type") != "jp_bank_transfer":
                raise StripeError(
                    400,
                    "This sandbox supports customer_balance only with funding_type=bank_transfer and "
                    "bank_transfer[type]=jp_bank_transfer.",
                    param="payment_method_options[customer_balance]",
                )
        pm_id = _new_id("pm")
        state.methods[pm_id] = {
            "id": pm_id,
            "object": "payment_method",
            "type": method,
            method: {},
            "billing_details": {
                "address": None,
                "email": billing.get("email"),
                "name": billing.get("name"),
                "phone": billing.get("phone"),
            },
            "customer": p.get("customer"),
            "created": int(time.time()),
            "livemode": False,
        }
        pi_id = _new_id("pi")
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "client_secret": f"{pi_id}_secret_{_new_id('s')[2:]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": "jpy",
            "customer": p.get("customer"),
            "description": p.get("description"),
            "latest_charge": None,
            "livemode": False,
            "metadata": _mapping(p.get("metadata")),
            "next_action": None,
            "payment_method": pm_id,
            "payment_method_options": options,
            "payment_method_types": [method],
            "receipt_email": p.get("receipt_email"),
            "status": "requires_confirmation",
        }
        if confirm:
            pi["status"] = "requires_action"
            pi["next_action"] = _voucher(pi, {"payment_method_options": options}, base_of(request))
        state.intents[pi_id] = pi
        return expanded(pi, p)

    def retrieve_intent(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        return expanded(get_or_404(state.intents, request.path_params["pi"], "payment_intent", request=request), p)

    def create_refund(request: Request, p: dict[str, Any], rid: str, outbox: list[Any]) -> dict[str, Any]:
        unknown_params(p, {"payment_intent", "charge", "amount", "reason", "metadata"})
        pi_id = p.get("payment_intent")
        if not pi_id and p.get("charge"):
            charge = get_or_404(state.charges, str(p["charge"]), "charge", "charge", request=request)
            pi_id = charge["payment_intent"]
        if not pi_id:
            raise StripeError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        pi = get_or_404(state.intents, str(pi_id), "payment_intent", "payment_intent", request=request)
        if pi["status"] != "succeeded" or not pi.get("latest_charge"):
            raise StripeError(
                400,
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        charge = state.charges[pi["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = _int(p.get("amount", str(remaining)), "amount")
        if remaining <= 0:
            raise StripeError(400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        if amount < 1:
            raise StripeError(400, "This value must be greater than or equal to 1.", param="amount")
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({yen(amount)}) is greater than unrefunded amount on charge ({yen(remaining)})",
                param="amount",
            )
        reason = p.get("reason")
        if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise StripeError(400, f"Invalid reason: {reason}", param="reason")
        rfid = _new_id("re")
        refund = {
            "id": rfid,
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": "jpy",
            "metadata": dict(p.get("metadata") or {}),
            "payment_intent": pi["id"],
            "reason": reason,
            "status": "succeeded",
        }
        state.refunds[rfid] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        outbox.append(("charge.refunded", dict(charge)))
        return refund

    # ------------------------------------------------------------------ the customer's side

    def _redirect_url(obj: dict[str, Any], key: str) -> str:
        return str(obj[key]).replace("{CHECKOUT_SESSION_ID}", str(obj["id"]))

    def hosted_page(request: Request, message_key: str = "", form: Any = None) -> Response:
        obj = state.sessions.get(request.path_params["sid"])
        lang = _lang(request, obj, form)
        if obj is None:
            return _page(t("sandbox.checkout", lang), f"<p>{t('sandbox.not_found', lang)}</p>", lang)
        if obj["status"] != "open":
            return _page(t("sandbox.checkout", lang), f"<p>{t('sandbox.closed', lang)}</p>", lang)
        items = state.line_items.get(obj["id"], [])
        allowed = [m for m, stripe_name in METHODS.items() if stripe_name in obj["payment_method_types"]]
        radios = "".join(
            f"<label><input type=radio name=method value={m}{' checked' if i == 0 else ''}> "
            f"{html.escape(t(f'sandbox.method.{m}', lang))}</label>"
            for i, m in enumerate(allowed)
        )
        outcomes = "".join(
            f"<label><input type=radio name=outcome value={o}{' checked' if o == 'success' else ''}> "
            f"{html.escape(t(f'sandbox.outcome.{o}', lang))}</label>"
            for o in OUTCOMES
        )
        err = f"<p class=err role=alert>{html.escape(t(message_key, lang))}</p>" if message_key else ""
        names = "".join(
            f"<p>{html.escape(i['description'])} × {i['quantity']}: {yen(i['amount_total'])}</p>" for i in items
        )
        merchant = str((obj.get("metadata") or {}).get("merchant_name") or "")
        shown_merchant = (
            f"<p class=merchant id=merchant>{html.escape(t('sandbox.merchant', lang, name=merchant))}</p>"
            if merchant
            else ""
        )
        body = (
            f"<h1>{t('sandbox.checkout', lang)}</h1>{shown_merchant}{err}{names}"
            f"<p class=amt>{yen(obj['amount_total'])}</p>"
            f'<form method=post action="{html.escape(str(request.url.path))}">'
            f"<input type=hidden name=lang value={lang}>"
            f"<fieldset><legend>{t('sandbox.method', lang)}</legend>{radios}</fieldset>"
            f"<fieldset><legend>{t('sandbox.outcome', lang)}</legend>{outcomes}</fieldset>"
            f"<button type=submit>{t('sandbox.pay', lang)}</button></form>"
        )
        return _page(t("sandbox.checkout", lang), body, lang)

    async def hosted_page_get(request: Request) -> Response:
        return hosted_page(request)

    async def hosted_page_post(request: Request) -> Response:
        form = await request.form()
        method, outcome = str(form.get("method", "card")), str(form.get("outcome", "success"))
        if method not in METHODS or outcome not in OUTCOMES:
            return hosted_page(request, "sandbox.invalid_choice", form)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_complete, request, method, outcome, form)

    def _voucher(pi: dict[str, Any], obj: dict[str, Any], base: str) -> dict[str, Any]:
        """Stripe's ``next_action`` for a konbini or bank-transfer payment."""
        if pi["payment_method_types"] == ["konbini"]:
            days = int((obj["payment_method_options"].get("konbini") or {}).get("expires_after_days", 3))
            # Stripe: 23:59:59 Japan time, ``days`` days after creation
            jst_day = (int(time.time()) + 9 * 3600) // 86400 + days
            expires = jst_day * 86400 + 86399 - 9 * 3600
            return {
                "type": "konbini_display_details",
                "konbini_display_details": {
                    "expires_at": expires,
                    "hosted_voucher_url": f"{base}/voucher/{pi['id']}",
                    "stores": {
                        store: {
                            "confirmation_number": _digits(11 if store != "seicomart" else 6),
                            "payment_code": _digits(6 if store != "familymart" else 12),
                        }
                        for store in KONBINI_STORES
                    },
                },
            }
        return {
            "type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {
                "amount_remaining": pi["amount"],
                "currency": "jpy",
                "financial_addresses": [
                    {
                        "type": "zengin",
                        "supported_networks": ["zengin"],
                        "zengin": {
                            "account_holder_name": "ストライプジャパン（カ）",
                            "account_number": _digits(7),
                            "account_type": "futsu",
                            "bank_code": "0009",
                            "bank_name": "三井住友銀行",
                            "branch_code": "950",
                            "branch_name": "カエデ支店",
                        },
                    }
                ],
                "hosted_instructions_url": f"{base}/voucher/{pi['id']}",
                "reference": None,
                "type": "jp_bank_transfer",
            },
        }

    def _new_intent(obj: dict[str, Any], method: str, base: str) -> dict[str, Any]:
        stripe_method = METHODS[method]
        pm_id = _new_id("pm")
        state.methods[pm_id] = {
            "id": pm_id,
            "object": "payment_method",
            "type": stripe_method,
            stripe_method: {"brand": "visa", "last4": "4242"} if method == "card" else {},
            "customer": obj.get("customer"),
            "created": int(time.time()),
            "livemode": False,
        }
        pi_id = _new_id("pi")
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": obj["amount_total"],
            "amount_received": 0,
            "created": int(time.time()),
            "currency": "jpy",
            "customer": obj.get("customer"),
            "latest_charge": None,
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "payment_method": pm_id,
            "payment_method_types": [stripe_method],
            "status": "processing",
        }
        state.intents[pi_id] = pi
        state.account_of[pi_id] = state.account_of[pm_id] = state.owner(str(obj["id"]))
        obj["payment_intent"] = pi_id
        if method == "card":
            _succeed(pi)
        else:
            pi["status"] = "requires_action"
            pi["next_action"] = _voucher(pi, obj, base)
        return pi

    def _succeed(pi: dict[str, Any]) -> None:
        ch_id = _new_id("ch")
        state.account_of[ch_id] = state.owner(str(pi["id"]))
        state.charges[ch_id] = {
            "id": ch_id,
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"],
            "amount_refunded": 0,
            "currency": "jpy",
            "paid": True,
            "payment_intent": pi["id"],
            "payment_method": pi["payment_method"],
            "payment_method_details": {"type": pi["payment_method_types"][0]},
            "refunded": False,
            "status": "succeeded",
            "created": int(time.time()),
            "livemode": False,
        }
        pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch_id, next_action=None)

    def _complete(request: Request, method: str, outcome: str, form: Any = None) -> Response:
        sid = request.path_params["sid"]
        with state.lock:
            obj = state.sessions.get(sid)
            if obj is None or obj["status"] != "open":
                return hosted_page(request, form=form)
            if outcome == "cancel":
                return RedirectResponse(_redirect_url(obj, "cancel_url"), status_code=303)
            if method == "card" and outcome == "failure":
                return hosted_page(request, "sandbox.declined", form)
            pi = _new_intent(obj, method, base_of(request))
            obj["status"] = "complete"
            obj["url"] = None
            obj["payment_status"] = "paid" if pi["status"] == "succeeded" else "unpaid"
            obj["customer_details"] = {
                "address": None,
                "email": None,
                "name": "SANDBOX TESTER",
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            }
        state.send_event("checkout.session.completed", obj)
        if method == "bank" and outcome != "pending":
            if outcome == "success":
                _succeed(pi)
                obj["payment_status"] = "paid"
            else:
                pi.update(status="canceled", next_action=None)
            kind = "succeeded" if outcome == "success" else "failed"
            state.send_event(f"checkout.session.async_payment_{kind}", obj)
        elif method == "konbini" and outcome == "failure":
            pi.update(status="canceled", next_action=None)
            state.send_event("checkout.session.async_payment_failed", obj)
        return RedirectResponse(_redirect_url(obj, "success_url"), status_code=303)

    def _pending_sessions() -> list[dict[str, Any]]:
        return [
            s
            for s in state.sessions.values()
            if s.get("payment_intent") and state.intents[s["payment_intent"]]["status"] == "requires_action"
        ]

    def _pending_intents() -> list[dict[str, Any]]:
        """Vouchers of payment intents created without a checkout session."""
        in_sessions = {s.get("payment_intent") for s in state.sessions.values()}
        return [
            pi for pi in state.intents.values() if pi["status"] == "requires_action" and pi["id"] not in in_sessions
        ]

    async def pending_list(request: Request) -> Response:
        lang = _lang(request)
        rows = "".join(
            f"<tr><td>{html.escape(pi['id'][-10:])}</td><td>{yen(pi['amount'])}</td><td>"
            f'<form method=post action="{html.escape(base_of(request))}/pending/{pi["id"]}">'
            f"<input type=hidden name=lang value={lang}>"
            f"<button name=result value=paid>{t('sandbox.mark_paid', lang)}</button>"
            f"<button name=result value=failed>{t('sandbox.mark_failed', lang)}</button></form></td></tr>"
            for pi in _pending_intents()
        ) + "".join(
            f"<tr><td>{html.escape(s['id'][-10:])}</td><td>{yen(s['amount_total'])}</td><td>"
            f'<form method=post action="{html.escape(base_of(request))}/pending/{s["id"]}">'
            f"<input type=hidden name=lang value={lang}>"
            f"<button name=result value=paid>{t('sandbox.mark_paid', lang)}</button>"
            f"<button name=result value=failed>{t('sandbox.mark_failed', lang)}</button></form></td></tr>"
            for s in _pending_sessions()
        )
        none = f"<p>{t('sandbox.none', lang)}</p>"
        body = f"<h1>{t('sandbox.pending', lang)}</h1>" + (f"<table>{rows}</table>" if rows else none)
        return _page(t("sandbox.pending", lang), body, lang)

    async def pending_mark(request: Request) -> Response:
        form = await request.form()
        lang = _lang(request, form=form)
        result = str(form.get("result", ""))
        direct = state.intents.get(request.path_params["sid"])
        if direct is not None and direct in _pending_intents() and result in ("paid", "failed"):
            if result == "paid":
                _succeed(direct)
            else:  # a konbini voucher that expired unpaid
                direct.update(status="requires_payment_method", next_action=None)
            from starlette.concurrency import run_in_threadpool

            kind = "succeeded" if result == "paid" else "payment_failed"
            await run_in_threadpool(state.send_event, f"payment_intent.{kind}", direct)
            return RedirectResponse(f"{base_of(request)}/pending?lang={lang}", status_code=303)
        obj = state.sessions.get(request.path_params["sid"])
        if obj is None or obj not in _pending_sessions() or result not in ("paid", "failed"):
            return _page(t("sandbox.pending", lang), f"<p>{t('sandbox.not_pending', lang)}</p>", lang)
        pi = state.intents[obj["payment_intent"]]
        if result == "paid":
            _succeed(pi)
            obj["payment_status"] = "paid"
        else:
            pi.update(status="canceled", next_action=None)
        from starlette.concurrency import run_in_threadpool

        kind = "succeeded" if result == "paid" else "failed"
        await run_in_threadpool(state.send_event, f"checkout.session.async_payment_{kind}", obj)
        return RedirectResponse(f"{base_of(request)}/pending?lang={lang}", status_code=303)

    async def voucher_page(request: Request) -> Response:
        lang = _lang(request)
        title = t("sandbox.voucher", lang)
        pi = state.intents.get(request.path_params["pi"])
        if pi is None or not pi.get("next_action"):
            return _page(title, f"<p>{t('sandbox.voucher_invalid', lang)}</p>", lang)
        action = pi["next_action"]
        rows = ""
        deadline = ""
        if action["type"] == "konbini_display_details":
            details = action["konbini_display_details"]
            rows = (
                f"<tr><th>{t('sandbox.col.store', lang)}</th><th>{t('sandbox.col.confirmation', lang)}</th>"
                f"<th>{t('sandbox.col.code', lang)}</th></tr>"
            )
            for store, numbers in details["stores"].items():
                rows += (
                    f"<tr><td>{html.escape(store)}</td><td>{numbers['confirmation_number']}</td>"
                    f"<td>{numbers['payment_code']}</td></tr>"
                )
            expires = datetime.fromtimestamp(int(details["expires_at"]), UTC).replace(tzinfo=None)
            when = people_datetime(expires, lang, SANDBOX_TIMEZONE)
            deadline = f"<p id=deadline>{html.escape(t('sandbox.expires', lang, time=when))}</p>"
        else:
            z = action["display_bank_transfer_instructions"]["financial_addresses"][0]["zengin"]
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in z.items())
        body = f"<h1>{title}</h1><p class=amt>{yen(pi['amount'])}</p>{deadline}<table>{rows}</table>"
        return _page(title, body, lang)

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"deliveries": state.deliveries.values()})

    async def add_account(request: Request) -> Response:
        """A further merchant account (test and demo set-up: an organisation's
        own sandbox connection): form fields ``secret_key``, ``webhook_secret``,
        ``webhook_url``. Nothing secret is answered."""
        form = await request.form()
        key, secret, url = (str(form.get(n) or "") for n in ("secret_key", "webhook_secret", "webhook_url"))
        if len(key) < 12 or not secret or not url.startswith(("http://", "https://")):
            return JSONResponse({"error": "secret_key (12+ characters), webhook_secret and webhook_url"}, 400)
        with state.lock:
            state.add_account(key, webhook_secret=secret, webhook_url=url)
        return JSONResponse({"added": True, "key_last4": key[-4:]})

    async def owner_of(request: Request) -> Response:
        """Which account created an object (the last four characters of its key)."""
        ident = request.path_params["ident"]
        known = any(ident in t for t in (state.sessions, state.customers, state.intents, state.refunds))
        if not known:
            return JSONResponse({"error": "unknown object"}, 404)
        return JSONResponse({"id": ident, "key_last4": state.owner(ident)[-4:]})

    def route(path: str, handler: Any, method: str, *, idempotent: bool = False) -> Route:
        async def endpoint(request: Request) -> Response:
            return await api(request, handler, idempotent=idempotent)

        return Route(path, endpoint, methods=[method])

    async def not_allowed(request: Request) -> Response:
        rid = _new_id("req")
        return answer(
            StripeError(404, f"Unrecognized request URL ({request.method}: {request.url.path}).").body(rid), rid, 404
        )

    app = Starlette(
        routes=[
            route("/v1/checkout/sessions", create_session, "POST", idempotent=True),
            route("/v1/checkout/sessions", list_sessions, "GET"),
            route("/v1/checkout/sessions/{sid}", retrieve_session, "GET"),
            route("/v1/checkout/sessions/{sid}/line_items", list_line_items, "GET"),
            route("/v1/checkout/sessions/{sid}/expire", expire_session, "POST", idempotent=True),
            route("/v1/customers", create_customer, "POST", idempotent=True),
            route("/v1/customers/{cid}", retrieve_customer, "GET"),
            route("/v1/payment_intents", create_intent, "POST", idempotent=True),
            route("/v1/payment_intents/{pi}", retrieve_intent, "GET"),
            route("/v1/refunds", create_refund, "POST", idempotent=True),
            Route("/v1/{rest:path}", not_allowed, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
            Route("/pay/{sid}", hosted_page_get, methods=["GET"]),
            Route("/pay/{sid}", hosted_page_post, methods=["POST"]),
            Route("/pending", pending_list, methods=["GET"]),
            Route("/pending/{sid}", pending_mark, methods=["POST"]),
            Route("/voucher/{pi}", voucher_page, methods=["GET"]),
            Route("/_deliveries", deliveries, methods=["GET"]),
            Route("/_accounts", add_account, methods=["POST"]),
            Route("/_accounts/of/{ident}", owner_of, methods=["GET"]),
        ],
        middleware=[Middleware(UnitOfWorkMiddleware, store=state.store)],
    )
    app.state.sandbox = state
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Stripe-compatible payment sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--secret-key", default=None, help="API key accepted (default: settings)")
    parser.add_argument("--webhook-secret", default=None, help="signing secret (default: settings)")
    parser.add_argument("--webhook-url", default=None, help="where events go (default: settings)")
    parser.add_argument("--store", default=None, help="state file shared with other processes (default: in memory)")
    args = parser.parse_args(argv)
    config = SandboxConfig(args.secret_key, args.webhook_secret, args.webhook_url)
    app = create_app(config, SimStore(args.store) if args.store else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
