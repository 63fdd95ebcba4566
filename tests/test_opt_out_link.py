"""The opt-out link (issue 20, item 5): every recipient page links to a plain
HTML confirm step (no JavaScript: a feature phone can use it); confirming puts
the number on the organisation's opt-out list (audited, no staff member), so
it leaves every campaign of that organisation and no reminder goes out. Where
the provider carries no replies (Twilio in Japan) the SMS itself says so. Was:
recipients could opt out only by replying STOP, which many providers in Japan
do not carry."""

from __future__ import annotations

import json

from sqlmodel import select

from smspay_app.models import AuditLog, Campaign, OptOut, Organisation, Recipient, SendAttempt
from smspay_app.services import sending, sms_message, timeline
from smspay_app.settings import get_settings
from smspay_app.worker.reminders import run_once as reminders_once
from tests.factories import add_recipients, make_campaign, make_journey, make_org
from tests.helpers import form_to

FEATURE_PHONE = "DoCoMo/2.0 P903i(c100;TB;W24H12)"


async def test_the_opt_out_link_works_without_javascript_and_stops_reminders(live_server, session):
    j = make_journey(session)
    recipient = session.get(Recipient, j.recipient_id)
    campaign = session.get(Campaign, j.campaign_id)
    campaign.reminder_rules = json.dumps({"rules": [{"anchor": "first_send", "days": 1}], "max": 1})
    session.add(campaign)
    timeline.record(session, recipient, "sms_sent", step="sent", at=recipient.created_at)
    queued = sending.new_attempt(session, recipient, "reminder")
    # The same number in another campaign of the organisation, and in another organisation.
    org = session.get(Organisation, j.organisation_id)
    second = make_campaign(session, org, 0, status="active")
    same_number = add_recipients(session, second, 1)[0]
    same_number.phone_e164 = recipient.phone_e164
    other_org = make_campaign(session, make_org(session, "別会社"), 0, status="active")
    elsewhere = add_recipients(session, other_org, 1)[0]
    elsewhere.phone_e164 = recipient.phone_e164
    session.add_all([same_number, elsewhere])
    session.commit()

    with live_server.client(headers={"User-Agent": FEATURE_PHONE}) as client:
        landing = client.get(f"/l/{j.token}")
        assert landing.status_code == 200
        assert f'href="/l/{j.token}/optout"' in landing.text
        assert "<script" not in landing.text.lower()
        confirm = client.get(f"/l/{j.token}/optout")
        assert confirm.status_code == 200 and "<script" not in confirm.text.lower()
        session.expire_all()
        assert session.exec(select(OptOut)).all() == []  # a GET changes nothing
        form = form_to(confirm.text, f"/l/{j.token}/optout")
        done = client.post(form["action"], data=form["fields"], follow_redirects=True)  # PRG (issue 14)
        assert done.status_code == 200 and "配信を停止しました" in done.text

    session.expire_all()
    optouts = session.exec(select(OptOut)).all()
    assert [(o.organisation_id, o.phone_e164, o.source) for o in optouts] == [
        (j.organisation_id, recipient.phone_e164, "link")
    ]
    assert session.get(Recipient, recipient.id).status == "opted_out"
    assert session.get(Recipient, same_number.id).status == "opted_out"
    assert session.get(Recipient, elsewhere.id).status != "opted_out"
    assert session.get(SendAttempt, queued.id).status == "cancelled"
    audit = session.exec(select(AuditLog).where(AuditLog.action == "optout.link")).one()
    assert audit.user_id is None and audit.organisation_id == j.organisation_id
    assert recipient.phone_e164 not in audit.detail  # masked
    assert await reminders_once() == 0


def test_the_sms_says_where_to_opt_out_when_the_provider_carries_no_replies(session, monkeypatch):
    org = make_org(session)
    campaign = make_campaign(session, org, 1)
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).one()
    link = "https://pay.example.jp/l/abc"
    assert "配信停止" not in sms_message.render_for_recipient(campaign, org, recipient, link)  # simulator: two-way
    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    get_settings.cache_clear()
    try:
        text = sms_message.render_for_recipient(campaign, org, recipient, link)
        assert text.endswith("\n配信停止はリンク先から") and link in text
        sample = sms_message.render_sample(org, campaign.sms_template)
        assert sample.endswith("配信停止はリンク先から")  # the size estimate counts it
    finally:
        monkeypatch.delenv("SMSPAY_SMS_PROVIDER")
        get_settings.cache_clear()
