"""The Idempotency-Key replays only completed results (issue 20, item 4):
a 2xx, or a refusal the same body always gets (400/422); a 404 or 409 caused
by state that can change is answered, not stored. And a key whose request
died mid-way is free again within a minute (issue 18, item 7: "an
Idempotency-Key can be wedged forever")."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from smspay_app.domain.clock import frozen
from smspay_app.models import ApiKey, IdempotencyRecord
from tests.factories import make_admin, make_key
from tests.helpers import CAMPAIGN, api_client, idem

T0 = datetime(2030, 4, 1, 1, 0)


def test_a_404_is_not_replayed_after_its_cause_is_fixed(live_server, session):
    """Was: a 404 for a campaign that did not exist yet was stored under its key;
    after creating the campaign the same request still got 404, "replayed"."""
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        first = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        next_id = first["id"] + 1  # the campaign about to be created
        body = {"campaign_id": next_id, "recipient": {"phone": "09012121212", "name": "早すぎた"}}
        headers = {"Idempotency-Key": "order-early"}
        missing = api.post("/api/v1/payment-requests", json=body, headers=headers)
        assert missing.status_code == 404 and "idempotent-replayed" not in missing.headers
        again = api.post("/api/v1/payment-requests", json=body, headers=headers)
        assert again.status_code == 404 and "idempotent-replayed" not in again.headers

        created = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        assert created["id"] == next_id
        fixed = api.post("/api/v1/payment-requests", json=body, headers=headers)
        assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers
        replayed = api.post("/api/v1/payment-requests", json=body, headers=headers)
        assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
        assert replayed.json()["id"] == fixed.json()["id"]


def test_a_conflict_is_not_replayed_but_a_refused_body_is(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        headers = {"Idempotency-Key": "resume-1"}
        refused = api.post(f"/api/v1/campaigns/{campaign['id']}/resume", headers=headers)  # a draft: not paused
        assert refused.status_code == 409
        again = api.post(f"/api/v1/campaigns/{campaign['id']}/resume", headers=headers)
        assert again.status_code == 409 and "idempotent-replayed" not in again.headers

        bad = {**CAMPAIGN, "questions": [], "name": "   "}
        headers = {"Idempotency-Key": "bad-template"}
        invalid = api.post("/api/v1/campaigns", json=bad, headers=headers)
        assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "campaign_invalid"
        replay = api.post("/api/v1/campaigns", json=bad, headers=headers)
        assert replay.status_code == 422 and replay.headers["idempotent-replayed"] == "true"


def test_a_key_wedged_by_a_crash_is_usable_again_within_a_minute(live_server, session):
    """Was: killing the app 0.07 s into a POST left the key "in progress" and every
    retry got 409 idempotency_in_progress for the key's 24 hours."""
    admin = make_admin(session)
    key = make_key(session, admin)
    api_key = session.exec(select(ApiKey).order_by(ApiKey.id.desc())).first()
    with frozen(T0) as clock, api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        body = {"campaign_id": campaign["id"], "recipient": {"phone": "09034343434", "name": "再送"}}
        # What the crash left: the record written before the work, never finished.
        first = api.post("/api/v1/payment-requests", json=body, headers={"Idempotency-Key": "probe"})
        probe = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "probe")).one()
        session.add(
            IdempotencyRecord(api_key_id=api_key.id, key="wedged", request_hash=probe.request_hash, created_at=T0)
        )
        session.delete(probe)
        session.commit()
        assert first.status_code == 201
        api.post(f"/api/v1/recipients/{first.json()['id']}/cancel", headers=idem())

        clock.set(T0 + timedelta(seconds=5))  # the request might still be running
        busy = api.post("/api/v1/payment-requests", json=body, headers={"Idempotency-Key": "wedged"})
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_in_progress"

        clock.set(T0 + timedelta(seconds=59))  # it cannot be: the key is free again
        retried = api.post("/api/v1/payment-requests", json=body, headers={"Idempotency-Key": "wedged"})
        assert retried.status_code in (201, 422), retried.text
        assert retried.json().get("error", {}).get("code") != "idempotency_in_progress"
