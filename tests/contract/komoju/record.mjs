// Records the KOMOJU contract fixtures (tests/fixtures/komoju/*.json) by
// driving the KOMOJU sandbox THROUGH KOMOJU's official Node SDK
// (komoju/komoju-node-sdk, @komoju/komoju-sdk, generated from KOMOJU's
// OpenAPI description): its Configuration (setApiKey: Basic auth with the
// secret key and an empty password; its User-Agent and X-KOMOJU-API-VERSION),
// SessionsApi and PaymentsApi, pointed at the sandbox with the SDK's own
// base-URL option (Configuration.basePath). A small recording proxy between
// the SDK and the sandbox keeps what the SDK really put on the wire (method,
// path, headers, body) and what it got back; the SDK's answer (axios:
// response.data, or error.response for 4xx) must be that same JSON.
// The SDK is not part of this repository and not a package here: build it
// outside (README, "KOMOJU") and say where:
//
//   KOMOJU_SDK_DIR=/tmp/komoju-node-sdk node tests/contract/komoju/record.mjs
//   KOMOJU_BASE=http://127.0.0.1:8788 KOMOJU_SDK_DIR=... node tests/contract/komoju/record.mjs
//
// Node 20. The Python used to start the sandbox: $PYTHON, else
// .venv/bin/python, else python3.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..", "..");
const out = join(root, "tests", "fixtures", "komoju");
export const KEY = "sk_test_komoju_contract";
export const WEBHOOK_SECRET = "komoju_contract_webhook_secret";
const sdkDir = process.env.KOMOJU_SDK_DIR;
if (!sdkDir || !existsSync(join(sdkDir, "dist", "index.js"))) {
  console.error("KOMOJU_SDK_DIR must name a built komoju-node-sdk (its dist/index.js); see README, KOMOJU");
  process.exit(2);
}
const sdkRequire = createRequire(join(resolve(sdkDir), "package.json"));
const { Configuration, SessionsApi, PaymentsApi } = sdkRequire("./dist/index.js");
// Headers of the transport, not of the SDK: not kept (the replay sets its own).
const TRANSPORT = new Set(["host", "content-length", "connection", "transfer-encoding"]);
// The fields KOMOJU's OpenAPI description marks as always present (the SDK's
// models, models/*.ts, non-optional properties): the contract tests require every one.
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

// What each SDK method takes (its request model), for the bodies it sent on
// calls KOMOJU accepted; the error cases send wrong bodies on purpose.
const REQUESTS = {
  createSession: "M.CreateSessionRequestWithPaymentMode",
  createPayment: "M.CreatePaymentRequestWithPaymentDetails",
  refundPayment: "M.RefundPaymentRequest",
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

// Between the SDK and the sandbox: forwards each request as it came and keeps
// the last exchange as it was on the wire.
async function startProxy(target) {
  const port = await freePort();
  const proxy = { base: `http://127.0.0.1:${port}`, last: null };
  const { hostname, port: targetPort } = new URL(target);
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const sent = Buffer.concat(chunks);
      const headers = { ...req.headers, host: `${hostname}:${targetPort}` };
      const upstream = httpRequest({ hostname, port: targetPort, method: req.method, path: req.url, headers }, (answer) => {
        const back = [];
        answer.on("data", (c) => back.push(c));
        answer.on("end", () => {
          const body = Buffer.concat(back);
          proxy.last = {
            method: req.method,
            path: req.url,
            headers: req.rawHeaders,
            body: sent.length ? sent.toString("utf8") : null,
            status: answer.statusCode,
            contentType: answer.headers["content-type"],
            answer: body.toString("utf8"),
          };
          res.writeHead(answer.statusCode, answer.headers);
          res.end(body);
        });
      });
      upstream.on("error", (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      upstream.end(sent);
    });
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  proxy.stop = () => server.close();
  return proxy;
}

// The SDK's clients, configured as its README says, at the sandbox's base URL.
function clients(base, key) {
  const config = new Configuration({ basePath: `${base}/api/v1` });
  config.setApiKey(key);
  return { sessions: new SessionsApi(config), payments: new PaymentsApi(config) };
}

// One SDK call: what the SDK sent and what it got (through the proxy), and
// what the SDK handed back to its caller.
async function call(ctx, name, sdkCall, model, path, invoke, { key = KEY } = {}) {
  ctx.proxy.last = null;
  let status;
  let data;
  try {
    const response = await invoke(key === KEY ? ctx.sdk : clients(ctx.proxy.base, key));
    status = response.status;
    data = response.data;
  } catch (error) {
    if (!error.response) throw error; // refused before or without an HTTP answer
    status = error.response.status;
    data = error.response.data;
  }
  const wire = ctx.proxy.last;
  if (!wire) throw new Error(`${name}: the SDK sent nothing`);
  const answer = JSON.parse(wire.answer);
  // The SDK parsed the answer into the same JSON that was on the wire.
  if (status !== wire.status || JSON.stringify(data) !== JSON.stringify(answer)) {
    throw new Error(`${name}: the SDK read ${status} ${JSON.stringify(data)} from ${wire.status} ${wire.answer}`);
  }
  if (wire.path !== `/api/v1${ctx.fill(path)}`) throw new Error(`${name}: the SDK called ${wire.path}, not ${path}`);
  const headers = {};
  for (let i = 0; i < wire.headers.length; i += 2) {
    const header = wire.headers[i];
    if (TRANSPORT.has(header.toLowerCase())) continue;
    headers[header] = wire.headers[i + 1];
  }
  for (const header of Object.keys(headers)) {
    if (header.toLowerCase() === "authorization") {
      const expected = "Basic " + Buffer.from(`${key}:`).toString("base64");
      if (headers[header] !== expected) throw new Error(`${name}: the SDK sent ${headers[header]}`);
      headers[header] = key === KEY ? "<basic: the secret key>" : "<basic: a wrong key>";
    }
  }
  const fixture = {
    name,
    sdk_call: sdkCall,
    model,
    model_fields: MODELS[model] || [],
    request: { method: wire.method, path, headers, body: wire.body === null ? null : JSON.parse(wire.body) },
    response: { status: wire.status, content_type: wire.contentType, body: answer },
  };
  ctx.results[name] = answer;
  ctx.steps.push(name);
  ctx.typed.push({ name, model, body: data });
  const sentModel = REQUESTS[sdkCall.split(".")[1]];
  if (sentModel && wire.body !== null && status < 300) ctx.typed.push({ name: `${name}_sent`, model: sentModel, body: JSON.parse(wire.body) });
  writeFileSync(join(out, `${name}.json`), JSON.stringify(fixture, null, 2) + "\n");
  console.log(`${String(wire.status).padEnd(4)} ${wire.method.padEnd(5)} ${path}  (${name}: ${sdkCall})`);
  return answer;
}

// What the SDK handed back, held to the SDK's own TypeScript models (its
// models/*.ts, compiled by its TypeScript with strict null checks): each
// answer as a literal of the model's wire type (enums as their string
// values), so a missing required field, a null where the model has none, a
// wrong JSON type, an enum value the model lacks or a field it does not know
// fails the recording. Our check, the SDK's types.
function typecheck(typed) {
  const models = join(resolve(sdkDir), "models");
  const tsc = join(resolve(sdkDir), "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(join(models, "index.ts")) || !existsSync(tsc)) {
    console.log("the SDK has no models/ or TypeScript: answers not type-checked");
    return true;
  }
  const dir = mkdtempSync(join(tmpdir(), "komoju-contract-"));
  const lines = [
    `import type * as M from ${JSON.stringify(models)};`,
    "type Wire<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Wire<U>> : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;",
    // The two nulls the sandbox keeps where the model says string (there is
    // no value to give): named here, nowhere else (README, "KOMOJU").
    // The SDK's ResponsePaymentDetailsAll intersects each member with a string
    // literal type ({ type: 'konbini' } & ...) that its enum-typed `type`
    // cannot meet, so TypeScript reduces it to never: held to the members here.
    "type Details = M.ResponsePaymentDetailsCreditCard | M.ResponsePaymentDetailsKonbini | M.ResponsePaymentDetailsPayEasy | M.ResponsePaymentDetailsBankTransfer;",
    "type Payment = Omit<M.Payment, 'session' | 'payment_details'> & { session: string | null; payment_details: Details }; // session: a payment made without one",
    "type APIError = { error: Omit<M.APIErrorBody, 'param'> & { param: string | null } }; // an error about no parameter",
    "type Session = Omit<M.Session, 'payment'> & { payment?: Payment };",
    "type Event = Omit<M.Event, 'data'> & { data: Payment };",
    ...typed.map(({ name, model, body }) => `export const f${name}: Wire<${model}> = ${JSON.stringify(body, null, 2)};`),
  ];
  const file = join(dir, "answers.ts");
  writeFileSync(file, lines.join("\n") + "\n");
  const run = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2020", "--moduleResolution", "node", "--skipLibCheck", file], {
    encoding: "utf8",
  });
  if (run.status === 0) {
    rmSync(dir, { recursive: true, force: true });
    console.log(`${typed.length} bodies sent and answered match the SDK's models`);
    return true;
  }
  console.error(`the SDK's models refuse what was sent or answered (${file}):\n${run.stdout}${run.stderr}`);
  return false;
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
  const proxy = await startProxy(sandbox.base);
  const ctx = {
    base: sandbox.base,
    proxy,
    sdk: clients(proxy.base, KEY),
    results: {},
    steps: [],
    typed: [],
    // "{step.field.field}" in a path: a value an earlier answer gave
    fill: (path) =>
      path.replace(/\{([a-z0-9_]+)\.([a-z_.]+)\}/g, (_, step, fields) =>
        fields.split(".").reduce((v, f) => v[f], ctx.results[step]),
      ),
  };
  const id = (path) => ctx.fill(path);
  const key = (value) => ({ headers: { "X-KOMOJU-IDEMPOTENCY": value } }); // the SDK's per-call options
  try {
    const session = { // as KomojuGateway.session_body builds it
      mode: "payment",
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
      expires_in_seconds: 86400,
      payment_data: { external_order_num: "smspay-1" },
    };
    await call(ctx, "01_sessions_create", "SessionsApi.createSession", "Session", "/sessions", (c) =>
      c.sessions.createSession({ createSessionRequest: session }, key("smspay-contract-session-1")),
    );
    await call(ctx, "02_sessions_create_replayed", "SessionsApi.createSession", "Session", "/sessions", (c) =>
      c.sessions.createSession({ createSessionRequest: session }, key("smspay-contract-session-1")),
    );
    await call(ctx, "03_sessions_show", "SessionsApi.showSession", "Session", "/sessions/{01_sessions_create.id}", (c) =>
      c.sessions.showSession({ id: id("{01_sessions_create.id}") }),
    );
    await call(ctx, "04_sessions_create_other", "SessionsApi.createSession", "Session", "/sessions", (c) =>
      c.sessions.createSession({
        createSessionRequest: { ...session, payment_types: ["credit_card"], payment_data: { external_order_num: "smspay-2" } },
      }),
    );
    const other = "{04_sessions_create_other.id}";
    await call(ctx, "05_sessions_cancel", "SessionsApi.cancelSession", "Session", `/sessions/${other}/cancel`, (c) =>
      c.sessions.cancelSession({ id: id(other) }),
    );
    await call(ctx, "06_sessions_cancel_again", "SessionsApi.cancelSession", "APIError", `/sessions/${other}/cancel`, (c) =>
      c.sessions.cancelSession({ id: id(other) }),
    );
    await browser(ctx, "07_payer_pays_by_card", "/sessions/{01_sessions_create.id}", {
      payment_type: "credit_card",
      outcome: "success",
    });
    await call(ctx, "08_sessions_show_completed", "SessionsApi.showSession", "Session", "/sessions/{01_sessions_create.id}", (c) =>
      c.sessions.showSession({ id: id("{01_sessions_create.id}") }),
    );
    const paid = "{08_sessions_show_completed.payment.id}";
    await call(ctx, "09_payments_show", "PaymentsApi.showPayment", "Payment", `/payments/${paid}`, (c) =>
      c.payments.showPayment({ id: id(paid) }),
    );
    await call(ctx, "10_payments_refund", "PaymentsApi.refundPayment", "Payment", `/payments/${paid}/refund`, (c) =>
      c.payments.refundPayment(
        { id: id(paid), refundPaymentRequest: { amount: 980, description: "requested_by_customer" } },
        key("smspay-contract-refund-1"),
      ),
    );
    const payer = { email: "payer@example.test", phone: "09012345678", family_name: "山田", given_name: "太郎" };
    const create = (body, idempotency) => (c) =>
      c.payments.createPayment({ createPaymentRequest: body }, idempotency ? key(idempotency) : undefined);
    await call(ctx, "11_payments_create_konbini", "PaymentsApi.createPayment", "Payment", "/payments", create({
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-3",
      metadata: { payment_id: "3" },
      payment_details: { type: "konbini", store: "lawson", email: payer.email },
    }, "smspay-contract-konbini-1"));
    await call(ctx, "12_payments_create_pay_easy", "PaymentsApi.createPayment", "Payment", "/payments", create({
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-4",
      payment_details: { type: "pay_easy", ...payer },
    }, "smspay-contract-pay-easy-1"));
    await call(ctx, "13_payments_create_bank_transfer", "PaymentsApi.createPayment", "Payment", "/payments", create({
      amount: 4980,
      currency: "JPY",
      external_order_num: "smspay-5",
      payment_details: { type: "bank_transfer", ...payer },
    }, "smspay-contract-bank-1"));
    const konbini = "{11_payments_create_konbini.id}";
    await call(ctx, "14_payments_refund_konbini", "PaymentsApi.refundPayment", "APIError", `/payments/${konbini}/refund`, (c) =>
      c.payments.refundPayment({ id: id(konbini), refundPaymentRequest: { amount: 100 } }),
    );
    await call(ctx, "15_error_bad_key", "SessionsApi.showSession", "APIError", "/sessions/{01_sessions_create.id}", (c) =>
      c.sessions.showSession({ id: id("{01_sessions_create.id}") }), { key: "sk_test_wrong" },
    );
    await call(ctx, "16_error_bad_amount", "SessionsApi.createSession", "APIError", "/sessions", (c) =>
      c.sessions.createSession({ createSessionRequest: { ...session, amount: 0, line_items: [] } }),
    );
    await call(ctx, "17_error_missing_currency", "PaymentsApi.createPayment", "APIError", "/payments", create({
      amount: 4980,
      payment_details: { type: "konbini", store: "lawson", email: payer.email },
    }));
    await call(ctx, "18_error_unknown_session", "SessionsApi.showSession", "APIError", "/sessions/0000000000000000000000000", (c) =>
      c.sessions.showSession({ id: "0000000000000000000000000" }),
    );
    await call(ctx, "19_error_unknown_payment", "PaymentsApi.showPayment", "APIError", "/payments/0000000000000000000000000", (c) =>
      c.payments.showPayment({ id: "0000000000000000000000000" }),
    );
    await call(ctx, "20_error_konbini_without_store", "PaymentsApi.createPayment", "APIError", "/payments", create({
      amount: 4980,
      currency: "JPY",
      payment_details: { type: "konbini", email: payer.email },
    }));
    writeFileSync(join(out, "index.json"), JSON.stringify({ key: KEY, steps: ctx.steps }, null, 2) + "\n");
    // The webhooks the sandbox sent meanwhile (its own log, not an SDK call):
    // KOMOJU's Event model too; a delivery leaves from a thread after the answer.
    await new Promise((r) => setTimeout(r, 1000));
    const sent = await (await fetch(`${sandbox.base}/_deliveries`)).json();
    sent.deliveries.forEach((d, i) => ctx.typed.push({ name: `event_${i}`, model: "Event", body: JSON.parse(d.body) }));
    if (!typecheck(ctx.typed)) process.exitCode = 1;
  } finally {
    proxy.stop();
    sandbox.stop();
  }
}

await main();
