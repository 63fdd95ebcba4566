"""The REST API can set what the editor can (issue 15 item 12): SMS-code
identity check, the campaign's own quiet hours, invoice lines with their tax
rate, the recipients' language, and ``customer_number`` as its own recipient
field (``reference`` stays the caller's own)."""

from __future__ import annotations

import json

from sqlmodel import select

from smspay_app.models import Campaign, InvoiceLine, Recipient
from smspay_app.services import sms_message
from smspay_app.web import api as api_web
from tests.factories import make_admin, make_key
from tests.helpers import api_client, idem


def test_the_api_sets_what_the_editor_sets(live_server, session):
    api_web.rate_limiter.reset()
    admin = make_admin(session)
    key = make_key(session, admin)
    body = {
        "name": "12月分",
        "sms_template": "{{name}}様 お客様番号{{customer_number}} {{link}}",
        "verification_mode": "otp",
        "ask_read_confirmation": False,
        "quiet_hours_start": "20:00",
        "quiet_hours_end": "09:00",
        "recipient_language": "en",
        "invoice_lines": [
            {"item": "基本料金", "unit_price_yen": 3300},
            {"item": "お弁当", "quantity": 2, "unit_price_yen": 540, "tax_rate": 8},
        ],
    }
    with api_client(live_server, key) as api:
        made = api.post("/api/v1/campaigns", json=body, headers=idem())
        assert made.status_code == 201, made.text
        c = made.json()
        assert (c["verification_mode"], c["quiet_hours_start"], c["quiet_hours_end"]) == ("otp", "20:00", "09:00")
        assert c["recipient_language"] == "en" and c["amount_yen"] == 4380  # the lines' total
        assert [(l["item"], l["tax_rate"]) for l in c["invoice_lines"]] == [("基本料金", 10), ("お弁当", 8)]
        bad = api.post(
            "/api/v1/campaigns",
            json={**body, "invoice_lines": [{"item": "x", "unit_price_yen": 1, "tax_rate": 5}]},
            headers=idem(),
        )
        assert bad.status_code == 422
        # A copy keeps the lines' tax rates; what is given overrides the template.
        copy = api.post(
            "/api/v1/campaigns",
            json={"name": "1月分", "template_campaign_id": c["id"], "recipient_language": "ja"},
            headers=idem(),
        ).json()
        assert [l["tax_rate"] for l in copy["invoice_lines"]] == [10, 8]
        assert copy["verification_mode"] == "otp" and copy["recipient_language"] == "ja"

        added = api.post(
            f"/api/v1/campaigns/{c['id']}/recipients",
            json={
                "recipients": [
                    {"phone": "09011114444", "name": "高橋", "customer_number": "100234", "reference": "CRM-77"}
                ]
            },
            headers=idem(),
        )
        assert added.status_code in (200, 201), added.text
        rid = added.json()["items"][0]["recipient_id"]
        shown = api.get(f"/api/v1/recipients/{rid}").json()
        assert shown["reference"] == "CRM-77" and shown["customer_number"] == "100234"
    session.expire_all()
    campaign = session.get(Campaign, c["id"])
    assert campaign.verification_mode == "otp" and campaign.recipient_language == "en"
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id)).all()
    assert sorted(l.tax_rate for l in lines) == [8, 10]
    recipient = session.get(Recipient, rid)
    assert recipient.external_ref == "CRM-77" and json.loads(recipient.merge_data)["customer_number"] == "100234"
    text = sms_message.render_for_recipient(campaign, campaign_org(session, campaign), recipient, "https://x/l/abc")
    assert "お客様番号100234" in text and "CRM-77" not in text


def campaign_org(session, campaign):
    from smspay_app.models import Organisation

    return session.get(Organisation, campaign.organisation_id)
