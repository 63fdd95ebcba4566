"""Karaden's delivery result callback (SMS送達結果通知, described in Karaden's
public API documentation): POSTed as a JSON message object to the URL entered
in its service settings, ``/webhooks/sms/{public_id}/result``. It carries no
documented signature, so the body is never trusted: only a message that very
connection sent is looked at, and what Karaden's own ``detail`` says is
applied (status, carrier)."""

from __future__ import annotations

from sqlmodel import select

from smspay_app.models import Connection, Recipient, SendAttempt
from smspay_app.services import sending
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_campaign, make_org
from tests.helpers import add_karaden_connection, reload

HEADERS = {"Content-Type": "application/json", "Karaden-Version": "2024-03-01"}


async def test_a_result_callback_applies_what_karaden_itself_says(live_server, session, settings):
    org, other = make_org(session, "A社"), make_org(session, "B社")
    api_base = settings.public_base_url + "/sim/karaden"
    mine = session.get(Connection, add_karaden_connection(session, org, settings, api_base))
    theirs = session.get(Connection, add_karaden_connection(session, other, settings, api_base))
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    session.commit()
    await run_dispatcher_once()
    session.expire_all()
    attempt = session.exec(select(SendAttempt)).one()
    assert attempt.status == "accepted" and attempt.sms_connection_id == mine.id
    body = {"id": attempt.provider_message_id, "object": "message", "status": "done", "sent_result": "received"}
    with live_server.client() as c:
        # another organisation's URL, an unknown message, not a message: nothing changes
        foreign = c.post(f"/webhooks/sms/{theirs.public_id}/result", json=body, headers=HEADERS)
        assert foreign.status_code == 200 and foreign.json()["result"] == "unknown_message"
        unknown = c.post(f"/webhooks/sms/{mine.public_id}/result", json={**body, "id": "nope"}, headers=HEADERS)
        assert unknown.json()["result"] == "unknown_message"
        assert c.post(f"/webhooks/sms/{mine.public_id}/result", content=b"[1]", headers=HEADERS).status_code == 400
        assert c.post("/webhooks/sms/cn_unknown/result", json=body, headers=HEADERS).status_code == 404
        assert reload(session, SendAttempt, attempt.id).status == "accepted"
        # the connection's own URL: Karaden's detail is asked and applied
        applied = c.post(f"/webhooks/sms/{mine.public_id}/result", json=body, headers=HEADERS)
    assert applied.status_code == 200 and applied.json()["result"] == "applied"
    session.expire_all()
    done = session.get(SendAttempt, attempt.id)
    assert done.status == "delivered"
    assert session.get(Recipient, attempt.recipient_id).carrier != ""


async def test_the_karaden_simulator_posts_results_and_the_attempt_is_delivered_without_polling(
    live_server, session, settings
):
    import httpx

    from smspay_app.services import connections
    from tests.helpers import wait_until

    org = make_org(session)
    api_base = settings.public_base_url + "/sim/karaden"
    connection = session.get(Connection, add_karaden_connection(session, org, settings, api_base))
    result_url = connections.view(connection).status_callback_url
    assert result_url.endswith(f"/webhooks/sms/{connection.public_id}/result")
    httpx.post(api_base + "/_control", json={"result_url": result_url}, timeout=5)
    try:
        campaign = make_campaign(session, org, recipients=2)
        sending.start_sending(session, campaign)
        session.commit()
        await run_dispatcher_once()  # sends; its poller is not due yet

        def delivered() -> bool:
            session.expire_all()
            return {a.status for a in session.exec(select(SendAttempt))} == {"delivered"}

        assert wait_until(delivered, timeout=10), "Karaden's result callbacks did not arrive"
        stats = httpx.get(api_base + "/_stats", timeout=5).json()
        assert stats["callbacks"] == 2 and stats["messages"] == 2
    finally:
        httpx.post(api_base + "/_control", json={"result_url": ""}, timeout=5)
