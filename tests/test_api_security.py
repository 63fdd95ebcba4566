"""API keys over real HTTP: allowlist (IPv4/IPv6, CIDR, trusted proxies),
revoked keys, organisation isolation, scopes, rate limit, the error shape in
both languages, and idempotency (one SMS for a repeated POST)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from smspay_app.models import ApiKey
from smspay_app.services import api_keys
from smspay_app.web import api as api_web
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_admin, make_key, make_org
from tests.helpers import CAMPAIGN, api_client, idem


@pytest.fixture(autouse=True)
def _fresh_limits():
    api_web.rate_limiter.reset()


def _campaign(api) -> dict:
    r = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


def test_allowlist_refuses_other_addresses_and_accepts_listed_ones(live_server, session):
    admin = make_admin(session)
    outside = make_key(session, admin, allowlist="10.0.0.0/8, 2001:db8::/32")
    inside = make_key(session, admin, allowlist="192.0.2.7 127.0.0.0/30")
    with api_client(live_server, outside, **{"Accept-Language": "en"}) as api:
        r = api.get("/api/v1/campaigns")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "ip_not_allowed"
        assert "allowlist" in r.json()["error"]["message"]
        # a forged X-Forwarded-For means nothing without trusted proxies
        assert api.get("/api/v1/campaigns", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403
    with api_client(live_server, inside) as api:
        assert api.get("/api/v1/campaigns").status_code == 200


def test_trusted_proxy_count_picks_the_client_address(live_server, session, settings):
    admin = make_admin(session)
    key = make_key(session, admin, allowlist="203.0.113.0/24")
    settings.api_trusted_proxies = 1  # one proxy (here: the test itself) appends the client it saw
    with api_client(live_server, key) as api:
        assert api.get("/api/v1/campaigns", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
        # a client-supplied entry further left is not trusted
        spoofed = api.get("/api/v1/campaigns", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1"})
        assert spoofed.status_code == 403


def test_address_matching_ipv4_ipv6_and_parsing():
    allow = api_keys.parse_allowlist("192.0.2.0/24, 2001:db8::/48\n198.51.100.7 ::1")
    assert allow == ["192.0.2.0/24", "2001:db8::/48", "198.51.100.7", "::1"]
    assert api_keys.address_allowed("192.0.2.200", allow)
    assert api_keys.address_allowed("::ffff:192.0.2.5", allow)  # IPv4-mapped IPv6
    assert api_keys.address_allowed("2001:db8:0:ffff::1", allow)
    assert not api_keys.address_allowed("2001:db8:1::1", allow)
    assert api_keys.address_allowed("::1", allow) and not api_keys.address_allowed("127.0.0.1", allow)
    assert not api_keys.address_allowed("not-an-ip", allow)
    with pytest.raises(api_keys.ApiKeyInvalid) as bad:
        api_keys.parse_allowlist("192.0.2.0/24 300.1.1.1")
    assert bad.value.fields == {"entry": "300.1.1.1"}
    assert api_keys.client_address("10.0.0.1", "1.1.1.1, 2.2.2.2", 0) == "10.0.0.1"
    assert api_keys.client_address("10.0.0.1", "1.1.1.1, 2.2.2.2", 2) == "1.1.1.1"
    assert api_keys.client_address("10.0.0.1", "", 3) == "10.0.0.1"


def test_organisation_can_require_an_allowlist(live_server, session):
    admin = make_admin(session)
    open_key = make_key(session, admin)
    api_keys.set_require_allowlist(session, admin, True)
    session.commit()  # the service flushes; the page handler commits
    with api_client(live_server, open_key) as api:
        r = api.get("/api/v1/campaigns")
        assert r.status_code == 403 and r.json()["error"]["code"] == "allowlist_required"
    with pytest.raises(api_keys.ApiKeyInvalid):
        make_key(session, admin)  # a new key without allowlist is refused too
    with api_client(live_server, make_key(session, admin, allowlist="127.0.0.1")) as api:
        assert api.get("/api/v1/campaigns").status_code == 200


def test_revoked_and_unknown_keys_are_refused(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        assert api.get("/api/v1/campaigns").status_code == 200
    row = session.exec(select(ApiKey)).one()
    assert row.secret_hash != key and key not in row.prefix and key.startswith(row.prefix + "_")
    assert api_keys.revoke_key(session, admin, row.id)
    session.commit()  # the service flushes; the page handler commits
    for presented in (key, key[:-1] + ("A" if key[-1] != "A" else "B"), "spk_nothing_here", "x"):
        with api_client(live_server, presented) as api:
            r = api.get("/api/v1/campaigns")
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
            assert r.headers["www-authenticate"] == "Bearer"


def test_a_key_of_another_organisation_sees_nothing(live_server, session):
    admin_a = make_admin(session)
    admin_b = make_admin(session, make_org(session, "別会社"))
    key_a, key_b = make_key(session, admin_a), make_key(session, admin_b)
    with api_client(live_server, key_a) as a:
        campaign = _campaign(a)
        sent = a.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09012121212", "name": "山田"}},
            headers=idem(),
        ).json()
    with api_client(live_server, key_b) as b:
        assert b.get("/api/v1/campaigns").json() == {"items": []}
        for path in (
            f"/api/v1/campaigns/{campaign['id']}",
            f"/api/v1/campaigns/{campaign['id']}/recipients",
            f"/api/v1/recipients/{sent['id']}",
        ):
            r = b.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
        for path, body in (
            (f"/api/v1/recipients/{sent['id']}/cancel", None),
            (f"/api/v1/recipients/{sent['id']}/reissue", None),
            (f"/api/v1/campaigns/{campaign['id']}/cancel", None),
            (
                "/api/v1/payment-requests",
                {"campaign_id": campaign["id"], "recipient": {"phone": "09000000001", "name": "x"}},
            ),
            ("/api/v1/campaigns", {"name": "copy", "template_campaign_id": campaign["id"]}),
        ):
            assert b.post(path, json=body, headers=idem()).status_code == 404, path
    with api_client(live_server, key_a) as a:
        assert a.get(f"/api/v1/recipients/{sent['id']}").json()["status"] == "queued"


def test_scopes_are_enforced(live_server, session):
    admin = make_admin(session)
    reader = make_key(session, admin, scopes=("read",))
    with api_client(live_server, reader, **{"Accept-Language": "en"}) as api:
        assert api.get("/api/v1/campaigns").status_code == 200
        r = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=idem())
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
        assert "manage" in r.json()["error"]["message"]


def test_rate_limit_per_key_with_retry_after(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin, rate_limit_per_minute=3)
    other = make_key(session, admin, rate_limit_per_minute=3)
    with api_client(live_server, key) as api:
        assert [api.get("/api/v1/campaigns").status_code for _ in range(3)] == [200, 200, 200]
        r = api.get("/api/v1/campaigns")
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert "秒後" in r.json()["error"]["message"]
    with api_client(live_server, other) as api:  # per key
        assert api.get("/api/v1/campaigns").status_code == 200


def test_validation_errors_have_the_one_shape_in_both_languages(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        for lang, word in (("ja", "リクエスト"), ("en-US,en;q=0.9", "request")):
            r = api.post("/api/v1/campaigns", json={"name": ""}, headers={**idem(), "Accept-Language": lang})
            assert r.status_code == 422
            err = r.json()["error"]
            assert err["code"] == "invalid_request" and word in err["message"]
            assert err["details"][0]["field"] == "name"
        bad = api.post(
            "/api/v1/campaigns",
            # amount_yen 0 is no longer refused (issue 12: each recipient's amount may
            # come with the recipients); a blank name is the second refused field
            json={"name": " ", "sms_template": "", "amount_yen": 0},
            headers={**idem(), "Accept-Language": "en"},
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "campaign_invalid"
        assert {d["field"] for d in bad.json()["error"]["details"]} >= {"sms_template", "name"}
        missing = api.post("/api/v1/campaigns", json=CAMPAIGN)
        assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_required"


async def test_repeated_post_with_the_same_idempotency_key_sends_one_sms(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = _campaign(api)
        body = {"campaign_id": campaign["id"], "recipient": {"phone": "09056565656", "name": "一度だけ"}}
        headers = {"Idempotency-Key": "order-5656"}
        first = api.post("/api/v1/payment-requests", json=body, headers=headers)
        await run_dispatcher_once()
        again = api.post("/api/v1/payment-requests", json=body, headers=headers)
        third = api.post("/api/v1/payment-requests", json=body, headers=headers)
        await run_dispatcher_once()
        assert first.status_code == again.status_code == third.status_code == 201
        assert first.json() == again.json() == third.json()
        assert again.headers["idempotent-replayed"] == "true"
        stats = api.get("/sim/twilio/_stats").json()
        assert stats["messages"] == 1 and stats["by_to"] == {"+819056565656": 1}
        assert len(api.get(f"/api/v1/campaigns/{campaign['id']}/recipients").json()["items"]) == 1

        changed = api.post(
            "/api/v1/payment-requests",
            json={**body, "recipient": {"phone": "09056565657", "name": "x"}},
            headers=headers,
        )
        assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
        # another key's records are its own
        other = make_key(session, admin)
    with api_client(live_server, other) as api2:
        r = api2.post("/api/v1/payment-requests", json=body, headers=headers)
        # not a replay of the first key's response: really handled, and the
        # number is already in the campaign
        assert "idempotent-replayed" not in r.headers
        assert r.status_code == 422 and r.json()["error"]["code"] == "recipients_rejected"
        assert r.json()["error"]["details"][0]["code"] == "import.duplicate_in_campaign"
