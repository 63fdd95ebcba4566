"""The KOMOJU sandbox held to recorded KOMOJU calls (tests/fixtures/komoju/,
recorded by tests/contract/komoju/record.mjs through KOMOJU's official Node
SDK, whose models also type-check what was sent and answered; see README,
"KOMOJU"). Each
fixture is replayed in order over real HTTP against the sandbox mounted in
the app (``/sim/komoju``): the same status, every field name the SDK
received with the same JSON type and value (ids, times, URLs and voucher
numbers compared by shape), every field KOMOJU's OpenAPI description marks
as always present, and the webhook signature as KOMOJU documents it (hex
HMAC-SHA256 of the raw body). No Node needed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "komoju"
INDEX = json.loads((FIXTURES / "index.json").read_text())
KEY = INDEX["key"]
WEBHOOK_SECRET = "komoju_contract_webhook_secret"
ID = re.compile(r"^[0-9a-z]{25}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DIGITS = re.compile(r"^\d+$")
URL = re.compile(r"^https?://127\.0\.0\.1:\d+(/.*)$")


@pytest.fixture(autouse=True)
def _contract_keys(monkeypatch):
    """Before ``settings`` (autouse first): the sandbox takes the recorded key."""
    monkeypatch.setenv("SMSPAY_KOMOJU_SECRET_KEY", KEY)
    monkeypatch.setenv("SMSPAY_KOMOJU_WEBHOOK_SECRET", WEBHOOK_SECRET)


def _fixtures() -> list[dict[str, Any]]:
    return [json.loads((FIXTURES / f"{name}.json").read_text()) for name in INDEX["steps"]]


def same_shape(recorded: Any, replayed: Any, where: str = "$") -> None:
    if isinstance(recorded, dict):
        assert isinstance(replayed, dict), where
        assert set(replayed) == set(recorded), (where, sorted(set(replayed) ^ set(recorded)))
        for key, value in recorded.items():
            same_shape(value, replayed[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(replayed, list) and len(replayed) == len(recorded), where
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            same_shape(a, b, f"{where}[{i}]")
    elif isinstance(recorded, str):
        assert isinstance(replayed, str), where
        for shape in (ID, TIME):
            if shape.match(recorded):
                assert shape.match(replayed), (where, replayed)
                return
        if URL.match(recorded):
            # recorded against the sandbox alone; replayed where the app mounts it
            recorded_path = URL.sub(r"\1", recorded)
            replayed_path = URL.sub(r"\1", replayed).removeprefix("/sim/komoju")
            assert re.sub(r"[0-9a-z]{25}", "<id>", recorded_path) == re.sub(r"[0-9a-z]{25}", "<id>", replayed_path)
            return
        if DIGITS.match(recorded):  # voucher numbers: random, of a fixed length
            assert DIGITS.match(replayed) and len(replayed) == len(recorded), (where, replayed)
            return
        assert replayed == recorded, where
    else:
        assert type(replayed) is type(recorded) and replayed == recorded, (where, recorded, replayed)


def _fill(path: str, results: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        node: Any = results[match.group(1)]
        for name in match.group(2).split("."):
            node = node[name]
        return str(node)

    return re.sub(r"\{([a-z0-9_]+)\.([a-z_.]+)\}", value, path)


def test_the_fixtures_cover_the_calls_we_make() -> None:
    calls = {(f["sdk_call"], f["response"]["status"]) for f in _fixtures() if not f.get("browser")}
    for needed in (
        ("SessionsApi.createSession", 200),
        ("SessionsApi.showSession", 200),
        ("SessionsApi.cancelSession", 200),
        ("PaymentsApi.showPayment", 200),
        ("PaymentsApi.refundPayment", 200),
        ("PaymentsApi.createPayment", 200),
        ("SessionsApi.showSession", 401),
        ("SessionsApi.createSession", 400),
        ("SessionsApi.showSession", 404),
        ("PaymentsApi.showPayment", 404),
    ):
        assert needed in calls, needed


def test_recorded_calls_replay_against_the_sandbox(live_server) -> None:
    results: dict[str, Any] = {}
    good = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    bad = "Basic " + base64.b64encode(b"sk_test_wrong:").decode()
    with live_server.client() as client:
        for fixture in _fixtures():
            request, expected = fixture["request"], fixture["response"]
            path = _fill(request["path"], results)
            if fixture.get("browser"):
                answer = client.post(f"/sim/komoju{path}", data=request["form"])
                assert answer.status_code == expected["status"], fixture["name"]
                continue
            headers = dict(request["headers"])
            headers["Authorization"] = good if "secret key" in headers["Authorization"] else bad
            body = request["body"]
            answer = client.request(
                request["method"],
                f"/sim/komoju/api/v1{path}",
                headers=headers,
                content=json.dumps(body, ensure_ascii=False).encode() if body is not None else None,
            )
            name = fixture["name"]
            assert answer.status_code == expected["status"], (name, answer.text)
            assert answer.headers["content-type"].startswith("application/json"), name
            data = answer.json()
            same_shape(expected["body"], data, name)
            for field in fixture["model_fields"]:  # what KOMOJU's OpenAPI description always sends
                assert field in data, (name, field)
            if fixture["model"] == "APIError":
                assert {"code", "message", "param"} <= set(data["error"]), name
            results[name] = data
    assert results["02_sessions_create_replayed"]["id"] == results["01_sessions_create"]["id"]  # idempotency
    assert results["08_sessions_show_completed"]["payment"]["status"] == "captured"
    assert results["10_payments_refund"]["amount_refunded"] == 980
    assert results["15_error_bad_key"]["error"]["code"] == "unauthorized"


def test_webhooks_are_signed_as_komoju_documents(live_server) -> None:
    with live_server.client() as client:
        auth = (KEY, "")
        created = client.post(
            "/sim/komoju/api/v1/payments",
            auth=auth,
            json={
                "amount": 1200,
                "currency": "JPY",
                "payment_details": {"type": "konbini", "store": "family-mart", "email": "payer@example.test"},
            },
        ).json()

        def mine() -> list[dict[str, Any]]:
            rows = client.get("/sim/komoju/_deliveries").json()["deliveries"]
            return [d for d in rows if json.loads(d["body"])["data"]["id"] == created["id"]]

        wait_until(lambda: len(mine()) == 1, timeout=10)  # sent after the answer, from a thread
        client.post(f"/sim/komoju/pending/{created['id']}", data={"result": "captured"})
        wait_until(lambda: len(mine()) == 2, timeout=10)
        for delivery, event_type in zip(mine(), ("payment.authorized", "payment.captured"), strict=True):
            raw = delivery["body"].encode()
            expected = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            assert delivery["signature"] == expected  # X-Komoju-Signature: hex HMAC-SHA256 of the raw body
            event = json.loads(raw)
            assert set(event) == {"id", "type", "resource", "data", "created_at", "reason"}
            assert event["type"] == event_type and event["resource"] == "event" and ID.match(event["id"])
            assert TIME.match(event["created_at"]) and event["data"]["resource"] == "payment"
        assert json.loads(mine()[1]["body"])["data"]["status"] == "captured"
