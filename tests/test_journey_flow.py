"""The recipient's whole journey over real HTTP (live server, sandbox gateway,
signed webhooks), following the pages' plain HTML forms like a browser
without JavaScript would."""

from __future__ import annotations

import json

import httpx
import pytest

from smspay_app.models import Link, Payment, Recipient
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, forms_of, kinds, reload


@pytest.fixture(autouse=True)
def _fresh_limits():
    from smspay_app.services import journey

    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    yield


def browser(live_server) -> httpx.Client:
    return live_server.client(headers={"User-Agent": BROWSER_UA})


def _own_payment_account(live_server, session, j, provider: str) -> int | None:
    """The journey's organisation gets its own payment connection (issue 13
    item 6: the journey runs for each gateway route): ``environment`` none;
    ``stripe`` / ``sandbox`` a connection with its own key at the sandbox,
    whose events go to the connection's own webhook URL."""
    if provider == "environment":
        return None
    from smspay_app.models import Organisation
    from smspay_app.services import connections
    from tests.factories import make_caller

    key = f"sk_test_journey_{provider}_" + "7" * 12
    fields = {"secret_key": key, "webhook_secret": f"whsec_journey_{provider}"}
    if provider == "stripe":
        fields["api_base"] = live_server.base_url + "/sim/stripe"
    org = session.get(Organisation, j.organisation_id)
    added = connections.add(
        session, make_caller(session, org, "admin"), kind="payment", provider=provider, fields=fields
    )
    session.commit()
    account = {"secret_key": key, "webhook_secret": fields["webhook_secret"]}
    account["webhook_url"] = connections.payment_webhook_url(added.public_id)
    with live_server.client() as c:
        assert c.post("/sim/stripe/_accounts", data=account).status_code == 200
    return added.connection_id


@pytest.mark.parametrize("gateway", ["environment", "stripe", "sandbox"])
def test_full_journey_card_success(live_server, session, gateway):
    j = make_journey(session)
    connection_id = _own_payment_account(live_server, session, j, gateway)
    with browser(live_server) as client:
        landing = client.get(f"/l/{j.token}")
        assert landing.status_code == 200
        assert "ご本人確認" in landing.text and "テスト電力株式会社" in landing.text
        assert "12,340" not in landing.text  # nothing private before the identity check

        form = form_to(landing.text, "/verify")
        fields = dict(form["fields"])
        q_birth, q_number = j.question_ids
        fields[f"q_{q_birth}"] = "昭和55年1月2日"  # the era form of 1980-01-02
        fields[f"q_{q_number}"] = "１２３４５６"  # full-width digits
        verified = client.post(form["action"], data=fields)
        assert verified.status_code == 303 and verified.headers["location"] == f"/l/{j.token}"
        cookie = verified.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/l/" in cookie

        message = client.get(f"/l/{j.token}")
        assert message.status_code == 200
        assert "山田太郎様" in message.text and "¥12,340" in message.text
        assert "基本料金" in message.text and "¥2,340" in message.text  # line total 2 x 1,170
        assert "2030年4月30日" in message.text  # dates as people read them (issue 12), was 2030/04/30

        pay_form = form_to(message.text, "/pay")
        to_gateway = client.post(pay_form["action"], data=pay_form["fields"])
        assert to_gateway.status_code == 303
        checkout_url = to_gateway.headers["location"]
        assert checkout_url.startswith(f"{live_server.base_url}/sim/stripe/pay/cs_test_")

        hosted = client.get(checkout_url)
        assert hosted.status_code == 200 and "¥12,340" in hosted.text
        sandbox_form = forms_of(hosted.text)[0]
        assert set(sandbox_form["radios"]["method"]) == {"card", "bank", "konbini"}
        choice = dict(sandbox_form["fields"], method="card", outcome="success")
        back = client.post(sandbox_form["action"] or checkout_url, data=choice)
        assert back.status_code == 303
        assert back.headers["location"] == f"{live_server.base_url}/l/{j.token}/done"

        done = client.get(back.headers["location"])
        assert done.status_code == 200
        assert "お支払いありがとうございました" in done.text
        assert "/pay" not in "".join(f["action"] for f in forms_of(done.text))  # cannot pay again

        again = client.post(f"/l/{j.token}/pay", data={"lang": "ja"})
        assert again.status_code == 303 and again.headers["location"] == f"/l/{j.token}"

    r = reload(session, Recipient, j.recipient_id)
    assert r.status == "paid"
    assert r.clicked_at is not None and r.verified_at is not None and r.paid_at is not None
    assert r.clicked_at <= r.verified_at <= r.paid_at
    payments = session.exec(__import__("sqlmodel").select(Payment).where(Payment.recipient_id == r.id)).all()
    assert [(p.status, p.method, p.amount_yen) for p in payments] == [("succeeded", "card", 12_340)]
    assert payments[0].payment_connection_id == connection_id  # the account it went through
    k = kinds(session, r.id)
    assert k.count("click") == 1 and k.count("verified") == 1 and k.count("paid") == 1
    assert k.index("visit") < k.index("click") < k.index("verified") < k.index("paid")


def test_wrong_answer_is_refused_clearly_and_counted(live_server, session):
    j = make_journey(session)
    with browser(live_server) as client:
        page = client.get(f"/l/{j.token}")
        form = form_to(page.text, "/verify")
        q_birth, q_number = j.question_ids
        wrong = client.post(
            form["action"], data={f"q_{q_birth}": "1980/01/02", f"q_{q_number}": "999999"}, follow_redirects=True
        )
        # post/redirect/get (issue 14: the result stayed on the POST URL, a reload resent the form)
        assert [r.status_code for r in wrong.history] == [303] and wrong.request.method == "GET"
        assert wrong.status_code == 200
        assert "登録情報と一致しませんでした" in wrong.text and "あと4回" in wrong.text
        assert "smspay_s" not in wrong.headers.get("set-cookie", "")
        # the message never says which answer was wrong, and is shown in English on request
        wrong_en = client.post(
            form["action"],
            data={f"q_{q_birth}": "1999/09/09", f"q_{q_number}": "123456", "lang": "en"},
            follow_redirects=True,
        )
        assert "do not match our records" in wrong_en.text and "3 attempts left" in wrong_en.text
        still_private = client.get(f"/l/{j.token}")
        assert "¥12,340" not in still_private.text
    link = reload(session, Link, j.link_id)
    r = reload(session, Recipient, j.recipient_id)
    assert link.failed_attempts == 2 and r.failed_answer_count == 2
    assert r.verified_at is None and r.clicked_at is not None
    assert kinds(session, r.id).count("verify_failed") == 2


def test_unknown_link_gives_friendly_404(live_server):
    with browser(live_server) as client:
        for path in ("/l/AAAAAAAAAAAAAAAAAAAAAA", "/l/x", "/l/" + "z" * 80):
            response = client.get(path)
            assert response.status_code == 404
            assert "ページが見つかりません" in response.text
            assert response.headers["referrer-policy"] == "no-referrer"
        english = client.get("/l/AAAAAAAAAAAAAAAAAAAAAA", headers={"Accept-Language": "en-US,en;q=0.8"})
        assert "Page not found" in english.text


def test_forged_or_unsigned_webhook_is_refused(live_server, session):
    j = make_journey(session)
    with browser(live_server) as client:
        page = client.get(f"/l/{j.token}")
        form = form_to(page.text, "/verify")
        q1, q2 = j.question_ids
        client.post(form["action"], data={f"q_{q1}": "1980-01-02", f"q_{q2}": "123456"})
        to_gateway = client.post(f"/l/{j.token}/pay", data={})
        assert to_gateway.status_code == 303
    payment = session.exec(__import__("sqlmodel").select(Payment)).one()
    event = {
        "id": "evt_forged_1",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": payment.provider_session_id,
                "payment_status": "paid",
                "amount_total": 12_340,
                "currency": "jpy",
            }
        },
    }
    body = json.dumps(event).encode()
    with live_server.client() as raw:
        unsigned = raw.post("/webhooks/stripe", content=body)
        forged = raw.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=1,v1=" + "0" * 64})
    assert unsigned.status_code == 400 and forged.status_code == 400
    assert reload(session, Payment, payment.id).status == "open"
    r = reload(session, Recipient, j.recipient_id)
    assert r.paid_at is None and r.status == "verified"
