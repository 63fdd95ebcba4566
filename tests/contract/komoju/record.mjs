// Records the KOMOJU contract fixtures (tests/fixtures/komoju/*.json) by
// driving the KOMOJU sandbox the way KOMOJU's official Node SDK
// (komoju/komoju-node-sdk, generated from KOMOJU's OpenAPI description)
// drives KOMOJU: the same paths, methods, JSON bodies and headers
// (Basic auth with the secret key and an empty password, Content-Type
// application/json on bodies, X-KOMOJU-API-VERSION, the SDK's User-Agent).
// Our own script, not the SDK's code: the SDK repository could not be
// fetched on the machine this was written on (README, "KOMOJU").
//
//   node tests/contract/komoju/record.mjs            # starts the sandbox itself
//   KOMOJU_BASE=http://127.0.0.1:8788 node tests/contract/komoju/record.mjs
//
// Node 20 (global fetch), no packages. The Python used to start the sandbox:
// $PYTHON, else .venv/bin/python, else python3.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..", "..");
const out = join(root, "tests", "fixtures", "komoju");
export const KEY = "sk_test_komoju_contract";
export const WEBHOOK_SECRET = "komoju_contract_webhook_secret";
// What the SDK sends on every call (configuration.ts of the SDK).
const SDK_HEADERS = {
  "User-Agent": "komoju-node-sdk/1.0.0-beta.1 api/2025-01-28",
  "X-KOMOJU-API-VERSION": "2025-01-28",
  Accept: "application/json, text/plain, */*",
};
// The fields KOMOJU's OpenAPI description marks as always present (the SDK's
// model docs, docs/Models/*.md): the contract tests require every one.
const MODELS = {
  Session: [
    "id", "resource", "mode", "amount", "currency", "session_url", "return_url", "default_locale",
    "payment_methods", "created_at", "cancelled_at", "completed_at", "status", "expired", "merchant", "metadata",
  ],
  Payment: [
    "id", "resource", "status", "amount", "tax", "customer", "payment_deadline", "payment_details",
    "payment_method_fee", "total", "currency", "description", "captured_at", "external_order_num", "metadata",
    "created_at", "amount_refunded", "locale", "session", "customer_family_name", "customer_given_name", "mcc",
    "statement_descriptor", "refunds", "refund_requests",
  ],
  Refund: ["id", "resource", "amount", "currency", "payment", "description", "created_at", "chargeback"],
  APIError: ["error"],
  APIErrorBody: ["code", "message", "param", "details"],
  ResponsePaymentDetailsKonbini: ["type", "store", "email"],
  ResponsePaymentDetailsPayEasy: ["type", "email"],
  ResponsePaymentDetailsBankTransfer: ["type", "email"],
};

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function startSandbox() {
  if (process.env.KOMOJU_BASE) return { base: process.env.KOMOJU_BASE.replace(/\/$/, ""), stop: () => {} };
  const python =
    process.env.PYTHON || (existsSync(join(root, ".venv", "bin", "python")) ? join(root, ".venv", "bin", "python") : "python3");
  const port = await freePort();
  const child = spawn(
    python,
    [
      "-m", "smspay_app.providers.payments.komoju_sandbox", "--port", String(port),
      "--secret-key", KEY, "--webhook-secret", WEBHOOK_SECRET, "--webhook-url", "http://127.0.0.1:9/nowhere",
    ],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${base}/api/v1/sessions/x`);
      return { base, stop: () => child.kill() };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill();
  throw new Error("the sandbox did not start");
}

const basic = (key) => "Basic " + Buffer.from(`${key}:`).toString("base64");

// One SDK call: records what was sent and what came back.
async function call(ctx, name, sdkCall, model, method, path, body, { key = KEY, idempotency } = {}) {
  const headers = { ...SDK_HEADERS, Authorization: basic(key) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotency) headers["X-KOMOJU-IDEMPOTENCY"] = idempotency;
  const url = `${ctx.base}/api/v1${ctx.fill(path)}`;
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const answer = JSON.parse(text);
  const shown = { ...headers, Authorization: key === KEY ? "<basic: the secret key>" : "<basic: a wrong key>" };
  const fixture = {
    name,
    sdk_call: sdkCall,
    model,
    model_fields: MODELS[model] || [],
    request: { method, path, headers: shown, body: body === undefined ? null : body },
    response: { status: response.status, content_type: response.headers.get("content-type"), body: answer },
  };
  ctx.results[name] = answer;
  ctx.steps.push(name);
  writeFileSync(join(out, `${name}.json`), JSON.stringify(fixture, null, 2) + "\n");
  console.log(`${String(response.status).padEnd(4)} ${method.padEnd(5)} ${path}  (${name})`);
  return answer;
}

// A step a browser does (the payer on the hosted page): replayed, not compared.
async function browser(ctx, name, path, form) {
  const url = `${ctx.base}${ctx.fill(path)}`;
  const response = await fetch(url, { method: "POST", body: new URLSearchParams(form), redirect: "manual" });
  writeFileSync(
    join(out, `${name}.json`),
    JSON.stringify({ name, browser: true, request: { method: "POST", path, form }, response: { status: response.status } }, null, 2) + "\n",
  );
  ctx.steps.push(name);
  console.log(`${String(response.status).padEnd(4)} POST  ${path}  (${name}, browser)`);
}

async function main() {
  mkdirSync(out, { recursive: true });
  const sandbox = await startSandbox();
  const ctx = {
    base: sandbox.base,
    results: {},
    steps: [],
    // "{step.field.field}" in a path: a value an earlier answer gave
    fill: (path) =>
      path.replace(/\{([a-z0-9_]+)\.([a-z_.]+)\}/g, (_, step, fields) =>
        fields.split(".").reduce((v, f) => v[f], ctx.results[step]),
      ),
  };
  try {
    const session = {
      amount: 4980,
      currency: "JPY",
      return_url: "https://example.test/l/token/done",
      default_locale: "ja",
      email: "payer@example.test",
      payment_types: ["credit_card", "konbini", "bank_transfer", "pay_easy", "paypay"],
      line_items: [
        { description: "基本料金", quantity: 1, amount: 4000 },
        { description: "従量料金", quantity: 2, amount: 490 },
      ],
      metadata: { payment_id: "1", merchant_name: "テスト電力株式会社" },
      payment_data: { external_order_num: "smspay-1" },
    };
    await call(ctx, "01_sessions_create", "SessionsApi.createSession", "Session", "POST", "/sessions", session, {
      idempotency: "smspay-contract-session-1",
    });
    await call(ctx, "02_sessions_create_replayed", "SessionsApi.createSession", "Session", "POST", "/sessions", session, {
      idempotency: "smspay-contract-session-1",
    });
    await call(ctx, "03_sessions_show", "SessionsApi.showSession", "Session", "GET", "/sessions/{01_sessions_create.id}");
    await call(ctx, "04_sessions_create_other", "SessionsApi.createSession", "Session", "POST", "/sessions", {
      ...session,
      payment_types: ["credit_card"],
      payment_data: { external_order_num: "smspay-2" },
    });
    await call(ctx, "05_sessions_cancel", "SessionsApi.cancelSession", "Session", "POST", "/sessions/{04_sessions_create_other.id}/cancel");
    await call(ctx, "06_sessions_cancel_again", "SessionsApi.cancelSession", "APIError", "POST", "/sessions/{04_sessions_create_other.id}/cancel");
    await browser(ctx, "07_payer_pays_by_card", "/sessions/{01_sessions_create.id}", {
      payment_type: "credit_card",
      outcome: "success",
    });
    await call(ctx, "08_sessions_show_completed", "SessionsApi.showSession", "Session", "GET", "/sessions/{01_sessions_create.id}");
    await call(ctx, "09_payments_show", "PaymentsApi.showPayment", "Payment", "GET", "/payments/{08_sessions_show_completed.payment.id}");
    await call(ctx, "10_payments_refund", "PaymentsApi.refundPayment", "Payment", "POST", "/payments/{08_sessions_show_completed.payment.id}/refund", {
      amount: 980,
      description: "requested_by_customer",
    }, { idempotency: "smspay-contract-refund-1" });
    const payer = { email: "payer@example.test", phone: "09012345678", family_name: "山田", given_name: "太郎" };
    await call(ctx, "11_payments_create_konbini", "PaymentsApi.createPayment", "Payment", "POST", "/payments", {
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-3",
      metadata: { payment_id: "3" },
      payment_details: { type: "konbini", store: "lawson", email: payer.email },
    }, { idempotency: "smspay-contract-konbini-1" });
    await call(ctx, "12_payments_create_pay_easy", "PaymentsApi.createPayment", "Payment", "POST", "/payments", {
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-4",
      payment_details: { type: "pay_easy", ...payer },
    }, { idempotency: "smspay-contract-pay-easy-1" });
    await call(ctx, "13_payments_create_bank_transfer", "PaymentsApi.createPayment", "Payment", "POST", "/payments", {
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-5",
      payment_details: { type: "bank_transfer", ...payer },
    }, { idempotency: "smspay-contract-bank-1" });
    await call(ctx, "14_payments_refund_konbini", "PaymentsApi.refundPayment", "APIError", "POST", "/payments/{11_payments_create_konbini.id}/refund", {
      amount: 100,
    });
    await call(ctx, "15_error_bad_key", "SessionsApi.showSession", "APIError", "GET", "/sessions/{01_sessions_create.id}", undefined, {
      key: "sk_test_wrong",
    });
    await call(ctx, "16_error_bad_amount", "SessionsApi.createSession", "APIError", "POST", "/sessions", { ...session, amount: 0, line_items: [] });
    await call(ctx, "17_error_missing_currency", "PaymentsApi.createPayment", "APIError", "POST", "/payments", {
      amount: 4980,
      payment_details: { type: "konbini", store: "lawson", email: payer.email },
    });
    await call(ctx, "18_error_unknown_session", "SessionsApi.showSession", "APIError", "GET", "/sessions/0000000000000000000000000");
    await call(ctx, "19_error_unknown_payment", "PaymentsApi.showPayment", "APIError", "GET", "/payments/0000000000000000000000000");
    await call(ctx, "20_error_konbini_without_store", "PaymentsApi.createPayment", "APIError", "POST", "/payments", {
      amount: 4980,
      currency: "JPY",
      payment_details: { type: "konbini", email: payer.email },
    });
    writeFileSync(join(out, "index.json"), JSON.stringify({ key: KEY, steps: ctx.steps }, null, 2) + "\n");
  } finally {
    sandbox.stop();
  }
}

await main();
