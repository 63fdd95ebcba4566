"""The simulators' and sandbox's state is shared by every process of an
installation (issue 17 item 2: with Redis, Reflex starts several workers and
the inbox was empty on 64 of 100 loads, the checkout missing on 41 of 50).
Two real app processes on one database (as two Granian workers are) answer
from one store (providers/sim_store.py); so do two standalone simulators
given one ``--store``."""

from __future__ import annotations

import os
import threading

import httpx

from smspay_app.providers.sim_store import SimStore
from tests.helpers import free_port, serve_process

KARADEN_VERSION = {"Karaden-Version": "2024-03-01"}


def test_two_app_processes_share_the_inbox_and_the_checkouts(two_apps, settings):
    a, b = two_apps
    auth = (settings.twilio_account_sid, settings.twilio_auth_token)
    phones = ["+819011110001", "+819011110002", "+819011110003"]
    for phone in phones:
        sent = httpx.post(
            f"{a}/sim/twilio/2010-04-01/Accounts/{auth[0]}/Messages.json",
            auth=auth,
            data={"To": phone, "From": "SMSPAY", "Body": f"お支払いはこちら {phone}"},
        )
        assert sent.status_code == 201, sent.text
    # Every load on the other process shows every phone.
    for _ in range(100):
        inbox = httpx.get(f"{b}/sim/twilio/inbox").text
        assert all(p in inbox for p in phones)
    listed = httpx.get(f"{b}/sim/twilio/2010-04-01/Accounts/{auth[0]}/Messages.json", auth=auth).json()
    assert sorted(m["to"] for m in listed["messages"]) == phones
    assert httpx.get(f"{b}/sim/twilio/_stats").json()["max_asked"] == 1

    # A checkout created on one process is found on the other: 50 of 50.
    key = {"Authorization": f"Bearer {settings.stripe_secret_key}"}
    found = 0
    for i in range(50):
        created = httpx.post(
            f"{a}/sim/stripe/v1/checkout/sessions",
            headers=key,
            data={
                "mode": "payment",
                "line_items[0][price_data][currency]": "jpy",
                "line_items[0][price_data][unit_amount]": str(1000 + i),
                "line_items[0][price_data][product_data][name]": "ご請求",
                "line_items[0][quantity]": "1",
                "success_url": "https://example.test/done",
                "cancel_url": "https://example.test/cancel",
            },
        )
        assert created.status_code == 200, created.text
        page = httpx.get(f"{b}/sim/stripe/pay/{created.json()['id']}")
        found += page.status_code == 200 and "¥" in page.text and "この支払い画面はありません" not in page.text
        assert httpx.get(f"{b}/sim/stripe/v1/checkout/sessions/{created.json()['id']}", headers=key).is_success
    assert found == 50

    # Karaden: created through one process, fetched through the other.
    karaden = {"Authorization": f"Bearer {settings.karaden_sim_token}", **KARADEN_VERSION}
    tenant = settings.karaden_sim_tenant_id
    made = httpx.post(
        f"{b}/sim/karaden/{tenant}/messages",
        headers=karaden,
        data={"service_id": str(settings.karaden_sim_service_id), "to": "09011110004", "body": "テスト"},
    )
    assert made.status_code == 200, made.text
    fetched = httpx.get(f"{a}/sim/karaden/{tenant}/messages/{made.json()['id']}", headers=karaden)
    assert fetched.status_code == 200 and fetched.json()["to"] == "09011110004"


def test_standalone_simulators_given_one_store_answer_alike(tmp_path):
    store = str(tmp_path / "sim.sqlite3")
    ports = [free_port(), free_port()]
    procs = []
    args = ["--account-sid", "ACshared", "--auth-token", "tok", "--inbound-url", "", "--store", store]
    try:
        for port in ports:
            cmd = ["-m", "smspay_app.providers.sms.simulator", "--port", str(port), *args]
            procs.append(serve_process(cmd, dict(os.environ), port, "/_stats"))
        a, b = (f"http://127.0.0.1:{p}" for p in ports)
        url = "/2010-04-01/Accounts/ACshared/Messages.json"

        def send(base: str, first: int) -> None:
            with httpx.Client(base_url=base, auth=("ACshared", "tok")) as client:
                for i in range(first, first + 100):
                    assert client.post(url, data={"To": f"+81902000{i:04d}", "From": "S", "Body": "x"}).is_success

        threads = [threading.Thread(target=send, args=(base, n)) for base, n in ((a, 0), (b, 100))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for base in (a, b):
            stats = httpx.get(base + "/_stats").json()
            assert stats["messages"] == 200 and stats["requests"] == 200 and stats["max_asked"] == 1
        # The account token rotated on one is the token of both (the account is one).
        httpx.post(a + "/_control", json={"auth_token": "rotated"})
        assert httpx.get(b + url, auth=("ACshared", "tok")).status_code == 401
        assert httpx.get(b + url, auth=("ACshared", "rotated")).json()["page_size"] == 50
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_unit_of_work_writes_back_what_it_changed(tmp_path):
    store = SimStore(tmp_path / "s.sqlite3")
    other = SimStore(tmp_path / "s.sqlite3")  # another process's view of the same file
    table = store.table("t.docs")
    table["a"] = {"n": 1}
    with store.unit_of_work():
        doc = table["a"]
        doc["n"] = 2
        assert table["a"] is doc  # one object per key within the unit of work
        assert other.table("t.docs")["a"] == {"n": 1}  # not yet written
        store.flush()
        assert other.table("t.docs")["a"] == {"n": 2}
        with store.lock():
            table["b"] = {"n": 3}
            table["a"]["n"] = 4
        assert other.table("t.docs")["a"] == {"n": 4}
    assert other.table("t.docs").keys() == ["a", "b"]
    log = other.table("t.log")
    assert [log.append({"i": i}) for i in range(3)] == ["1", "2", "3"]
    assert [d["i"] for d in store.table("t.log").values(newest_first=True)] == [2, 1, 0]
    store.add("t.count", 2)
    other.add("t.count")
    assert store.count("t.count") == 3
    other.drop("t.")
    assert len(table) == 0 and store.count("t.count") == 0


def test_two_app_processes_share_the_komoju_sandbox_and_the_added_accounts(two_apps, settings):
    """KOMOJU's sandbox and the accounts added at run time (``/_merchants``,
    ``/_accounts``, as a connection registers them) are the installation's, not
    one process's: created through A, seen, paid and refused through B."""
    a, b = two_apps
    key = settings.komoju_secret_key
    body = {"amount": 12340, "currency": "JPY", "return_url": "https://example.test/done", "default_locale": "ja"}
    sessions = []
    for i in range(20):
        made = httpx.post(f"{a}/sim/komoju/api/v1/sessions", auth=(key, ""), json={**body, "amount": 12340 + i})
        assert made.status_code == 200, made.text
        sessions.append(made.json())
    for made in sessions:  # every one of them, on the other process: the API and the hosted page
        shown = httpx.get(f"{b}/sim/komoju/api/v1/sessions/{made['id']}", auth=(key, ""))
        assert shown.status_code == 200 and shown.json()["amount"] == made["amount"]
        page = httpx.get(f"{b}/sim/komoju/sessions/{made['id']}")
        assert page.status_code == 200 and "¥12,3" in page.text
    # paid at a konbini on B, settled at the store on A, read on B
    first = sessions[0]["id"]
    paid = httpx.post(
        f"{b}/sim/komoju/sessions/{first}",
        data={"payment_type": "konbini", "store": "lawson", "outcome": "success", "lang": "ja"},
    )
    assert paid.status_code == 303 and f"session_id={first}" in paid.headers["location"]
    payment = httpx.get(f"{a}/sim/komoju/api/v1/sessions/{first}", auth=(key, "")).json()["payment"]
    assert payment["status"] == "authorized" and payment["payment_details"]["type"] == "konbini"
    assert payment["id"] in httpx.get(f"{a}/sim/komoju/pending").text
    settled = httpx.post(f"{a}/sim/komoju/pending/{payment['id']}", data={"result": "captured", "lang": "ja"})
    assert settled.status_code == 303
    again = httpx.get(f"{b}/sim/komoju/api/v1/payments/{payment['id']}", auth=(key, ""))
    assert again.json()["status"] == "captured"
    # the same idempotency key on the other process: the same payment, not a second one
    direct = {
        "amount": 5000,
        "currency": "JPY",
        "payment_details": {"type": "konbini", "store": "lawson", "email": "taro@example.com"},
    }
    once = httpx.post(
        f"{a}/sim/komoju/api/v1/payments", auth=(key, ""), json=direct, headers={"X-KOMOJU-IDEMPOTENCY": "k-1"}
    )
    twice = httpx.post(
        f"{b}/sim/komoju/api/v1/payments", auth=(key, ""), json=direct, headers={"X-KOMOJU-IDEMPOTENCY": "k-1"}
    )
    assert once.status_code == twice.status_code == 200 and once.json()["id"] == twice.json()["id"]

    # a merchant account added through A is known to B (and its objects are its own)
    merchant = {"secret_key": "sk_test_shared_merchant", "webhook_url": "http://127.0.0.1:9/h", "webhook_secret": "s"}
    assert httpx.post(f"{a}/sim/komoju/_merchants", json=merchant).status_code == 200
    mine = httpx.post(f"{b}/sim/komoju/api/v1/sessions", auth=(merchant["secret_key"], ""), json=body)
    assert mine.status_code == 200, mine.text
    assert httpx.get(f"{a}/sim/komoju/api/v1/sessions/{mine.json()['id']}", auth=(key, "")).status_code == 404
    assert httpx.post(f"{b}/sim/komoju/api/v1/sessions", auth=("sk_test_nobody", ""), json=body).status_code == 401

    # a further Stripe sandbox account added through A works on B
    account = {
        "secret_key": "sk_test_shared_account",
        "webhook_secret": "whsec_shared",
        "webhook_url": "http://127.0.0.1:9/h",
    }
    assert httpx.post(f"{a}/sim/stripe/_accounts", data=account).status_code == 200
    listed = httpx.get(
        f"{b}/sim/stripe/v1/checkout/sessions", headers={"Authorization": "Bearer sk_test_shared_account"}
    )
    assert listed.status_code == 200, listed.text
    nobody = httpx.get(f"{b}/sim/stripe/v1/checkout/sessions", headers={"Authorization": "Bearer sk_test_nobody"})
    assert nobody.status_code == 401
