"""The REST API over real HTTP against the running web app: create a campaign
from a template, send one payment request (one call), the SMS goes out through
the simulator, the recipient verifies and pays in the sandbox, and the API
reports every step's time; add many recipients with per-item errors; page;
reissue; cancel."""

from __future__ import annotations

import re

import pytest

from smspay_app.services import journey
from smspay_app.web import api as api_web
from smspay_app.web import recipient as recipient_web
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_admin, make_key
from tests.helpers import BROWSER_UA, CAMPAIGN, api_client, form_to, forms_of, idem

LINK_RE = re.compile(r"http://\S+/l/([0-9A-Za-z]{22})")


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    api_web.rate_limiter.reset()


def _tokens_in_inbox(client, phone: str) -> list[str]:
    page = client.get(f"/sim/twilio/inbox/{phone}")
    assert page.status_code == 200
    return list(dict.fromkeys(LINK_RE.findall(page.text)))


def _token_in_inbox(client, phone: str) -> str:
    (token,) = _tokens_in_inbox(client, phone)
    return token


async def test_send_one_request_then_status_through_verified_and_paid(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        template = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=idem())
        assert template.status_code == 201, template.text
        # a campaign made from the template: its text, page, amount and question
        made = api.post(
            "/api/v1/campaigns",
            json={"name": "4月 電話注文", "template_campaign_id": template.json()["id"]},
            headers=idem(),
        )
        assert made.status_code == 201, made.text
        campaign = made.json()
        assert campaign["sms_template"] == CAMPAIGN["sms_template"] and campaign["amount_yen"] == 4_980
        assert campaign["questions"] == [{"label": "生年月日", "column": "birth_date", "kind": "date"}]

        sent = api.post(
            "/api/v1/payment-requests",
            json={
                "campaign_id": campaign["id"],
                "recipient": {
                    "phone": "090-1234-5678",
                    "name": "山田太郎",
                    "reference": "ORDER-1001",
                    "fields": {"birth_date": "昭和55年1月2日"},
                },
            },
            headers=idem(),
        )
        assert sent.status_code == 201, sent.text
        r = sent.json()
        assert r["status"] == "queued" and r["phone"] == "+819012345678" and r["reference"] == "ORDER-1001"
        assert r["steps"]["queued_at"] is not None and r["steps"]["sent_at"] is None

        assert await run_dispatcher_once() == 1  # the in-app worker's pass: the SMS goes to the provider
        token = _token_in_inbox(api, "+819012345678")

    with live_server.client(headers={"User-Agent": BROWSER_UA}) as phone:
        landing = phone.get(f"/l/{token}")
        form = form_to(landing.text, "/verify")
        fields = dict(form["fields"])
        name = next(k for k in fields if k.startswith("q_"))
        fields[name] = "1980/1/2"
        assert phone.post(form["action"], data=fields).status_code == 303

        with api_client(live_server, key) as api:
            mid = api.get(f"/api/v1/recipients/{r['id']}").json()
        assert mid["status"] == "verified"
        assert mid["steps"]["clicked_at"] and mid["steps"]["verified_at"] and mid["steps"]["paid_at"] is None

        message = phone.get(f"/l/{token}")
        pay = form_to(message.text, "/pay")
        to_gateway = phone.post(pay["action"], data=pay["fields"])
        hosted = phone.get(to_gateway.headers["location"])
        choice = dict(forms_of(hosted.text)[0]["fields"], method="card", outcome="success")
        assert phone.post(to_gateway.headers["location"], data=choice).status_code == 303

    with api_client(live_server, key, **{"Accept-Language": "en"}) as api:
        final = api.get(f"/api/v1/recipients/{r['id']}").json()
        assert final["status"] == "paid"
        steps = final["steps"]
        order = ["queued_at", "sent_at", "clicked_at", "verified_at", "paid_at"]
        assert all(steps[s] for s in order), steps
        assert [steps[s] for s in order] == sorted(steps[s] for s in order)
        counts = api.get(f"/api/v1/campaigns/{campaign['id']}").json()["counts"]
        assert counts["paid"] == 1 and counts["verified"] == 1 and counts["recipients"] == 1


def test_add_many_with_per_item_errors_and_paging(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=idem()).json()
        items = [
            {"phone": f"0901000{i:04d}", "name": f"顧客{i}", "fields": {"birth_date": "1980-01-02"}} for i in range(5)
        ]
        items.append({"phone": "12345", "name": "bad", "fields": {"birth_date": "1980-01-02"}})  # invalid number
        items.append({"phone": "09010000000", "name": "dup", "fields": {"birth_date": "1980-01-02"}})  # = item 0
        items.append({"phone": "09019999999", "name": "no answer"})  # question column missing
        items.append(
            {
                "phone": "09018888888",
                "amount_yen": 100,
                "due_date": "2030/13/45",
                "fields": {"birth_date": "1980-01-02"},
            }
        )  # bad date
        added = api.post(f"/api/v1/campaigns/{campaign['id']}/recipients", json={"recipients": items}, headers=idem())
        assert added.status_code == 200, added.text
        body = added.json()
        assert body["added"] == 5 and body["rejected"] == 4
        errs = {i["index"]: i["errors"] for i in body["items"] if i["errors"]}
        assert set(errs) == {5, 6, 7, 8}
        assert errs[5][0]["field"] == "phone" and errs[5][0]["code"].startswith("phone.")
        assert errs[6][0]["code"] == "import.duplicate_in_file"
        assert errs[7][0] == {"field": "fields.birth_date", "code": "answer.missing", "message": errs[7][0]["message"]}
        assert errs[8][0]["field"] == "due_date" and errs[8][0]["code"] == "import.invalid_date"
        assert all(i["recipient_id"] for i in body["items"][:5])
        # the same number again in a later call: a duplicate in the campaign
        again = api.post(
            f"/api/v1/campaigns/{campaign['id']}/recipients",
            json={"recipients": [items[0]]},
            headers={**idem(), "Accept-Language": "en"},
        ).json()
        assert again["items"][0]["errors"][0]["code"] == "import.duplicate_in_campaign"
        assert "already" in again["items"][0]["errors"][0]["message"].lower()

        seen, after = [], 0
        while True:
            page = api.get(f"/api/v1/campaigns/{campaign['id']}/recipients", params={"after": after, "limit": 2}).json()
            seen += [r["id"] for r in page["items"]]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        assert seen == sorted(seen) and len(seen) == 5
        assert all(
            r["status"] == "created"
            for r in api.get(f"/api/v1/campaigns/{campaign['id']}/recipients", params={"limit": 200}).json()["items"]
        )


async def test_reissue_kills_the_old_link_and_cancel_stops_a_request(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        one = api.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09011112222", "name": "佐藤"}},
            headers=idem(),
        ).json()
        two = api.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09033334444", "name": "鈴木"}},
            headers=idem(),
        ).json()
        assert await run_dispatcher_once() == 2
        old = _token_in_inbox(api, "+819011112222")

        re_ = api.post(f"/api/v1/recipients/{one['id']}/reissue", headers=idem())
        assert re_.status_code == 200, re_.text
        assert api.get(f"/l/{old}").status_code == 410  # dead at once
        assert await run_dispatcher_once() == 1
        tokens = _tokens_in_inbox(api, "+819011112222")
        assert len(tokens) == 2 and old in tokens
        new = next(t for t in tokens if t != old)
        assert api.get(f"/l/{new}").status_code == 200

        cancelled = api.post(f"/api/v1/recipients/{two['id']}/cancel", headers=idem())
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["steps"]["cancelled_at"]
        token_two = _token_in_inbox(api, "+819033334444")
        assert api.get(f"/l/{token_two}").status_code == 410

        # a request queued, then the whole campaign cancelled before the worker's pass: never sent
        three = api.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09077778888", "name": "田中"}},
            headers=idem(),
        ).json()
        assert three["status"] == "queued"
        whole = api.post(f"/api/v1/campaigns/{campaign['id']}/cancel", headers=idem())
        assert whole.status_code == 200 and whole.json()["status"] == "cancelled"
        assert await run_dispatcher_once() == 0
        assert api.get(f"/api/v1/recipients/{three['id']}").json()["status"] == "cancelled"
        assert api.get("/sim/twilio/_stats").json()["by_to"].get("+819077778888") is None
        refused = api.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09055556666"}},
            headers={**idem(), "Accept-Language": "en"},
        )
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
        assert "cancelled" in refused.json()["error"]["message"]
