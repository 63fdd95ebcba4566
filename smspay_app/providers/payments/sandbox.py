"""The payment sandbox: a real HTTP service speaking the Stripe Checkout
protocol, so the production adapter is the code under test.

- ``POST /v1/checkout/sessions`` (form-encoded, ``Authorization: Bearer <key>``,
  optional ``Idempotency-Key``) creates a session and answers its JSON with a
  ``url`` to the hosted page; ``GET /v1/checkout/sessions/{id}`` retrieves it;
  ``POST /v1/checkout/sessions/{id}/expire`` expires an open one.
- ``GET /pay/{id}`` is the hosted page (plain HTML, no JavaScript): the tester
  picks card, bank account or convenience store, and success, failure or
  cancel. Card + failure shows a decline and lets them try again (as Stripe
  does); bank + failure and konbini + failure complete the session unpaid
  then send ``checkout.session.async_payment_failed``; bank + success sends
  ``completed`` (unpaid) then ``async_payment_succeeded``; konbini + success
  stays pending (``completed`` with ``payment_status=unpaid``) until the
  tester marks it paid on ``GET /pending``; cancel returns to ``cancel_url``.
- Webhooks are signed ``Stripe-Signature: t=...,v1=hex(HMAC-SHA256(secret,
  f"{t}.{body}"))`` and POSTed to the webhook URL (by default
  ``{public_base_url}/webhooks/stripe``) before the browser is redirected.

Mounted at ``/sim/stripe`` in ``web.app``; alone:
``python -m smspay_app.providers.payments.sandbox --port 8787``.
"""

from __future__ import annotations

import argparse
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from smspay_app.domain.formatting import yen
from smspay_app.providers.payments.signature import sign_header

METHODS = {"card": "card", "bank": "customer_balance", "konbini": "konbini"}
METHOD_LABELS = {
    "card": "クレジットカード / Card",
    "bank": "銀行口座 / Bank account",
    "konbini": "コンビニ払い / Convenience store",
}
OUTCOME_LABELS = {"success": "成功 / Success", "failure": "失敗 / Failure", "cancel": "キャンセル / Cancel"}


@dataclass
class SandboxConfig:
    secret_key: str | None = None  # None: settings.stripe_secret_key at request time
    webhook_secret: str | None = None  # None: settings.stripe_webhook_secret
    webhook_url: str | None = None  # None: {settings.public_base_url}/webhooks/stripe


@dataclass
class SandboxState:
    config: SandboxConfig
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

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

    def send_event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Sign and POST one event to the webhook URL; keeps a delivery record."""
        event = {
            "id": f"evt_sbx_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": dict(obj)},
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        header = sign_header(self.webhook_secret(), body)
        record: dict[str, Any] = {"event_id": event["id"], "type": event_type, "status": None}
        try:
            response = httpx.post(
                self.webhook_url(),
                content=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": header},
                timeout=15,
            )
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["status"] = f"error: {type(exc).__name__}"
        self.deliveries.append(record)
        return event


def _page(title: str, body: str) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=ja><head><meta charset=utf-8>"
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
        ".amt{font-size:1.6rem;font-weight:700}.err{color:#b00020}"
        "table{width:100%;border-collapse:collapse}td{padding:.3rem;border-top:1px solid #eee}"
        "</style></head><body><div class=sb>SANDBOX — テスト環境 / test mode</div>"
        f"<main><div class=card>{body}</div></main></body></html>"
    )
    return HTMLResponse(doc, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _form_list(form: Any, prefix: str) -> list[str]:
    items = sorted(
        ((k, v) for k, v in form.multi_items() if k.startswith(prefix + "[")),
        key=lambda kv: int(kv[0][len(prefix) + 1 : -1]) if kv[0][len(prefix) + 1 : -1].isdigit() else 0,
    )
    return [str(v) for _, v in items]


def create_app(config: SandboxConfig | None = None) -> Starlette:
    state = SandboxState(config=config or SandboxConfig())

    def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
        return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = f"Bearer {state.secret_key()}"
        return secrets.compare_digest(header.encode(), expected.encode())

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/") + str(request.scope.get("root_path", "")).rstrip("/")

    async def create_session(request: Request) -> Response:
        if not authorised(request):
            return error(401, "Invalid API Key provided", "authentication_error")
        key = request.headers.get("idempotency-key")
        if key and key in state.idempotency:
            return JSONResponse(state.sessions[state.idempotency[key]])
        form = await request.form()
        try:
            amount = int(str(form.get("line_items[0][price_data][unit_amount]", "")))
            quantity = int(str(form.get("line_items[0][quantity]", "1")))
        except ValueError:
            return error(400, "Invalid integer: unit_amount / quantity")
        currency = str(form.get("line_items[0][price_data][currency]", "")).lower()
        if form.get("mode") != "payment":
            return error(400, "mode must be payment")
        if currency != "jpy" or amount < 50 or quantity < 1:
            return error(400, "Invalid amount or currency (jpy, at least 50)")
        success_url, cancel_url = form.get("success_url"), form.get("cancel_url")
        if not success_url or not cancel_url:
            return error(400, "Missing required param: success_url / cancel_url")
        methods = _form_list(form, "payment_method_types") or ["card"]
        metadata = {
            k[len("metadata[") : -1]: str(v)
            for k, v in form.multi_items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        sid = f"cs_test_{secrets.token_urlsafe(24).replace('-', 'a').replace('_', 'b')}"
        now = int(time.time())
        obj = {
            "id": sid,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": amount * quantity,
            "amount_total": amount * quantity,
            "currency": "jpy",
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "payment_method_types": methods,
            "line_items_preview": [
                {
                    "name": str(form.get("line_items[0][price_data][product_data][name]", "")),
                    "quantity": quantity,
                    "unit_amount": amount,
                }
            ],
            "success_url": str(success_url),
            "cancel_url": str(cancel_url),
            "url": f"{base_of(request)}/pay/{sid}",
            "payment_intent": f"pi_sbx_{secrets.token_hex(8)}",
            "created": now,
            "expires_at": now + 24 * 3600,
            "livemode": False,
        }
        with state.lock:
            state.sessions[sid] = obj
            if key:
                state.idempotency[key] = sid
        return JSONResponse(obj)

    async def retrieve_session(request: Request) -> Response:
        if not authorised(request):
            return error(401, "Invalid API Key provided", "authentication_error")
        obj = state.sessions.get(request.path_params["sid"])
        if obj is None:
            return error(404, "No such checkout.session")
        return JSONResponse(obj)

    def expire_session(request: Request) -> Response:
        if not authorised(request):
            return error(401, "Invalid API Key provided", "authentication_error")
        obj = state.sessions.get(request.path_params["sid"])
        if obj is None:
            return error(404, "No such checkout.session")
        if obj["status"] != "open":
            return error(400, "Only open sessions can be expired")
        obj["status"] = "expired"
        state.send_event("checkout.session.expired", obj)
        return JSONResponse(obj)

    def _redirect_url(obj: dict[str, Any], key: str) -> str:
        return str(obj[key]).replace("{CHECKOUT_SESSION_ID}", str(obj["id"]))

    def hosted_page(request: Request, message: str = "") -> Response:
        obj = state.sessions.get(request.path_params["sid"])
        if obj is None:
            return _page("Not found", "<p>This checkout session does not exist.</p>")
        if obj["status"] != "open":
            return _page("Closed", "<p>This checkout session is closed. / 終了しています。</p>")
        item = obj["line_items_preview"][0]
        allowed = [m for m, stripe_name in METHODS.items() if stripe_name in obj["payment_method_types"]]
        radios = "".join(
            f"<label><input type=radio name=method value={m}{' checked' if i == 0 else ''}> "
            f"{html.escape(METHOD_LABELS[m])}</label>"
            for i, m in enumerate(allowed)
        )
        outcomes = "".join(
            f"<label><input type=radio name=outcome value={o}{' checked' if o == 'success' else ''}> "
            f"{html.escape(label)}</label>"
            for o, label in OUTCOME_LABELS.items()
        )
        err = f"<p class=err role=alert>{html.escape(message)}</p>" if message else ""
        body = (
            f"<h1>お支払い / Checkout</h1>{err}<p>{html.escape(item['name'])}</p>"
            f"<p class=amt>{yen(obj['amount_total'])}</p>"
            f'<form method=post action="{html.escape(str(request.url.path))}">'
            f"<fieldset><legend>支払方法 / Method</legend>{radios}</fieldset>"
            f"<fieldset><legend>結果 / Outcome</legend>{outcomes}</fieldset>"
            "<button type=submit>支払う / Pay</button></form>"
        )
        return _page("Sandbox checkout", body)

    async def hosted_page_get(request: Request) -> Response:
        return hosted_page(request)

    async def hosted_page_post(request: Request) -> Response:
        form = await request.form()
        method, outcome = str(form.get("method", "card")), str(form.get("outcome", "success"))
        if method not in METHODS or outcome not in OUTCOME_LABELS:
            return hosted_page(request, "Invalid choice")
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_complete, request, method, outcome)

    def _complete(request: Request, method: str, outcome: str) -> Response:
        sid = request.path_params["sid"]
        with state.lock:
            obj = state.sessions.get(sid)
            if obj is None or obj["status"] != "open":
                return hosted_page(request)
            if outcome == "cancel":
                return RedirectResponse(_redirect_url(obj, "cancel_url"), status_code=303)
            if method == "card" and outcome == "failure":
                return hosted_page(request, "カードが拒否されました / Your card was declined.")
            obj["status"] = "complete"
            obj["sandbox_payment_method"] = method
            obj["payment_status"] = "paid" if method == "card" else "unpaid"
        state.send_event("checkout.session.completed", obj)
        if method == "bank":
            obj["payment_status"] = "paid" if outcome == "success" else "unpaid"
            kind = "succeeded" if outcome == "success" else "failed"
            state.send_event(f"checkout.session.async_payment_{kind}", obj)
        elif method == "konbini":
            if outcome == "failure":
                state.send_event("checkout.session.async_payment_failed", obj)
            else:
                obj["sandbox_pending"] = True
        return RedirectResponse(_redirect_url(obj, "success_url"), status_code=303)

    async def pending_list(request: Request) -> Response:
        rows = "".join(
            f"<tr><td>{html.escape(s['id'][-10:])}</td><td>{yen(s['amount_total'])}</td><td>"
            f'<form method=post action="{html.escape(base_of(request))}/pending/{s["id"]}">'
            "<button name=result value=paid>入金済み / Mark paid</button>"
            "<button name=result value=failed>期限切れ / Mark failed</button></form></td></tr>"
            for s in state.sessions.values()
            if s.get("sandbox_pending")
        )
        body = "<h1>コンビニ払い待ち / Pending</h1>" + (f"<table>{rows}</table>" if rows else "<p>なし / None</p>")
        return _page("Sandbox pending", body)

    async def pending_mark(request: Request) -> Response:
        form = await request.form()
        result = str(form.get("result", ""))
        obj = state.sessions.get(request.path_params["sid"])
        if obj is None or not obj.get("sandbox_pending") or result not in ("paid", "failed"):
            return _page("Not pending", "<p>Nothing to do.</p>")
        obj["sandbox_pending"] = False
        if result == "paid":
            obj["payment_status"] = "paid"
        from starlette.concurrency import run_in_threadpool

        kind = "succeeded" if result == "paid" else "failed"
        await run_in_threadpool(state.send_event, f"checkout.session.async_payment_{kind}", obj)
        return RedirectResponse(f"{base_of(request)}/pending", status_code=303)

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"deliveries": state.deliveries})

    app = Starlette(
        routes=[
            Route("/v1/checkout/sessions", create_session, methods=["POST"]),
            Route("/v1/checkout/sessions/{sid}", retrieve_session, methods=["GET"]),
            Route("/v1/checkout/sessions/{sid}/expire", expire_session, methods=["POST"]),
            Route("/pay/{sid}", hosted_page_get, methods=["GET"]),
            Route("/pay/{sid}", hosted_page_post, methods=["POST"]),
            Route("/pending", pending_list, methods=["GET"]),
            Route("/pending/{sid}", pending_mark, methods=["POST"]),
            Route("/_deliveries", deliveries, methods=["GET"]),
        ]
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
    args = parser.parse_args(argv)
    app = create_app(SandboxConfig(args.secret_key, args.webhook_secret, args.webhook_url))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
