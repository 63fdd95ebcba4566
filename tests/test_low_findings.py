"""Issue 18, item 11 (Low): security headers on the admin console's
responses, cross-site POSTs to the recipient pages refused, and precise
limits on a CSV's columns and cells."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import PlainTextResponse

from smspay_app.domain.csv_import import MAX_CELL_CHARS, MAX_COLUMNS, CsvError, read_csv
from smspay_app.i18n import t
from smspay_app.models import Link
from smspay_app.settings import get_settings
from smspay_app.web import recipient as recipient_web
from tests.factories import make_admin, make_journey, make_key
from tests.helpers import BROWSER_UA, reload


async def _admin_page_headers() -> httpx.Headers:
    from smspay_app.web.app import build_web_app

    app = build_web_app()

    async def reflex_stand_in(scope, receive, send):  # what Reflex serves behind the app
        await PlainTextResponse("<html>admin</html>")(scope, receive, send)

    app.mount("", reflex_stand_in)  # as Reflex mounts itself (api_transformer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/campaigns")).headers


async def test_admin_pages_send_frame_ancestors_and_no_sniff(settings):
    """Finding 11: admin pages sent no CSP, frame-ancestors or HSTS (the
    recipient pages did)."""
    headers = await _admin_page_headers()
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in headers  # http: no HSTS


async def test_admin_pages_send_hsts_over_https(settings, monkeypatch):
    monkeypatch.setenv("SMSPAY_PUBLIC_BASE_URL", "https://pay.example.jp")
    get_settings.cache_clear()
    headers = await _admin_page_headers()
    assert headers["strict-transport-security"].startswith("max-age=")
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
)
def test_a_cross_site_post_counts_no_wrong_answer(live_server, session, headers):
    """Finding 11: a page elsewhere submitted a wrong answer (so any page that
    knows a token could lock it). Refused with 403 before anything counts."""
    recipient_web.post_limiter.reset()
    j = make_journey(session)
    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA, **headers}) as c:
        r = c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1970/1/1", f"q_{q2}": "0"})
    assert r.status_code == 403 and t("recipient.cross_site", "ja") in r.text
    link = reload(session, Link, j.link_id)
    assert link.failed_attempts == 0 and link.clicked_at is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "null", "Sec-Fetch-Site": "same-origin"}],  # a feature phone; our own no-referrer page
)
def test_our_own_forms_and_feature_phones_still_post(live_server, session, settings, headers):
    recipient_web.post_limiter.reset()
    j = make_journey(session)
    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA, **headers}) as c:
        r = c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
        assert r.status_code == 303
        own = {"Origin": settings.public_base_url, "Sec-Fetch-Site": "same-origin"}
        assert c.post(f"/l/{j.token}/verify", data={}, headers=own).status_code in (200, 303)


def test_a_csv_with_too_many_columns_is_refused_with_a_precise_message():
    """Finding 11: a 100,000-column CSV reached the mapping step (a 1.49 MB
    state update)."""
    header = ",".join(f"c{i}" for i in range(100_000))
    with pytest.raises(CsvError) as err:
        read_csv(f"電話番号,{header}\n09012345678\n".encode())
    assert err.value.key == "csv.too_many_columns"
    assert str(MAX_COLUMNS) in t("csv.too_many_columns", "ja", **err.value.fields)


def test_a_csv_with_a_huge_cell_says_so():
    """Finding 11: a 10 MB cell got the misleading "cannot be read as CSV"."""
    with pytest.raises(CsvError) as err:
        read_csv(b"phone,memo\n09012345678," + b"x" * (10 * 1024 * 1024) + b"\n")
    assert err.value.key == "csv.cell_too_long" and err.value.fields["row"] == 2
    with pytest.raises(CsvError) as err:
        read_csv(b"phone,memo\n09012345678," + b"x" * (MAX_CELL_CHARS + 1) + b"\n")
    assert err.value.key == "csv.cell_too_long"
    assert "10000" in t("csv.cell_too_long", "ja", **err.value.fields)
    read_csv(b"phone,memo\n09012345678," + b"x" * MAX_CELL_CHARS + b"\n")  # at the limit: fine


@pytest.mark.parametrize("amount", [1, 0, 999])
def test_marking_paid_for_another_amount_than_the_one_due_is_refused(session, amount):
    """Finding 11: support marked a ¥1,000 invoice paid for ¥1 or ¥0 while the
    dashboard counted ¥1,000. The amount must be the amount due."""
    from smspay_app.models import Organisation, Payment, Recipient
    from smspay_app.services import actions
    from tests.factories import make_caller

    j = make_journey(session, amount_yen=1_000)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    with pytest.raises(actions.ActionRefused) as err:
        actions.mark_paid_outside(session, caller, j.recipient_id, "窓口で受領", amount_yen=amount)
    assert err.value.key == "ops.error.amount_mismatch"
    assert "1000" in t("ops.error.amount_mismatch", "ja", **err.value.fields)
    assert session.get(Recipient, j.recipient_id).paid_at is None
    actions.mark_paid_outside(session, caller, j.recipient_id, "窓口で受領", amount_yen=1_000)
    session.commit()
    from sqlmodel import select

    assert [p.amount_yen for p in session.exec(select(Payment)).all()] == [1_000]


def test_api_paths_with_a_newline_get_the_json_error_shape(live_server, session):
    """Finding 11: paths with ``%0A`` got a plain-text 404 instead of the JSON
    error shape."""
    with live_server.client() as c:
        r = c.get("/api/v1/campaigns%0A")
        r2 = c.get("/api/v1/recipients/1%0A")
    for response in (r, r2):
        assert response.status_code in (401, 404)
        assert response.json()["error"]["code"] in ("not_found", "unauthenticated")


def test_options_names_every_method_of_the_path(live_server, session):
    """Finding 11: OPTIONS answered ``Allow: POST`` where GET exists."""
    with live_server.client() as c:
        r = c.options("/api/v1/campaigns/1/recipients")
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed


def test_wrong_passwords_from_elsewhere_do_not_lock_an_admin_out(session, settings):
    """Finding 11: the sign-in throttle was in memory per process (a restart
    reset it) and let anyone lock a known admin out for 15 minutes. Now the
    back-off is per address and account, kept in the database: the address
    that failed waits, the admin's own address signs in."""
    from datetime import datetime

    from sqlmodel import Session, func, select

    from smspay_app import db
    from smspay_app.domain import clock
    from smspay_app.models import SignInFailure
    from smspay_app.services import auth
    from tests.factories import PASSWORD, make_org, make_user

    with clock.frozen(datetime(2030, 1, 1, 9, 0)):
        admin = make_user(session, make_org(session), "admin")
        for _ in range(auth.MAX_PASSWORD_FAILURES):
            assert auth.sign_in_start(session, admin.email, "guess", "203.0.113.7") is None
        session.commit()
        assert auth.sign_in_start(session, admin.email, PASSWORD, "203.0.113.7").kind == "password_throttled"
        own = auth.sign_in_start(session, admin.email, PASSWORD, "198.51.100.20")
        assert own is not None and own.kind == "done"
        session.commit()
        with Session(db.get_engine()) as other:  # what another process (or a restart) sees
            assert other.exec(select(func.count()).select_from(SignInFailure)).one() == 2 * auth.MAX_PASSWORD_FAILURES
            assert auth.sign_in_start(other, admin.email, PASSWORD, "203.0.113.7").kind == "password_throttled"


def test_a_too_long_idempotency_key_is_called_too_long_not_missing(live_server, session):
    """Finding 11: a 256-character Idempotency-Key was refused as "required"."""
    from tests.helpers import CAMPAIGN, api_client

    key = make_key(session, make_admin(session))
    with api_client(live_server, key) as api:
        long = api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "k" * 256})
        missing = api.post("/api/v1/campaigns", json=CAMPAIGN)
    assert (long.status_code, long.json()["error"]["code"]) == (400, "idempotency_key_invalid")
    assert "255" in long.json()["error"]["message"]
    assert missing.json()["error"]["code"] == "idempotency_key_required"
