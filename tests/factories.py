"""Test data made directly with the models (shared by test modules)."""

from __future__ import annotations

import json

from sqlmodel import Session

from smspay_app.models import Campaign, Organisation, Recipient


def make_org(session: Session, name: str = "テスト商事", **fields) -> Organisation:
    """An organisation; quiet hours off unless given (tests run at any hour)."""
    fields.setdefault("quiet_hours_start", "00:00")
    fields.setdefault("quiet_hours_end", "00:00")
    org = Organisation(name=name, sender_name=fields.pop("sender_name", name), **fields)
    session.add(org)
    session.commit()
    return org


def phone(i: int) -> str:
    """A distinct Japanese mobile number in E.164."""
    return f"+8190{10000000 + i:08d}"


def make_campaign(
    session: Session,
    org: Organisation,
    recipients: int = 3,
    *,
    template: str = "{{name}}様 ご請求のお知らせです {{link}}",
    first_phone: int = 0,
    **fields,
) -> Campaign:
    campaign = Campaign(organisation_id=org.id, name=fields.pop("name", "請求"), sms_template=template, **fields)
    session.add(campaign)
    session.commit()
    add_recipients(session, campaign, recipients, first_phone=first_phone)
    return campaign


def add_recipients(session: Session, campaign: Campaign, n: int, *, first_phone: int = 0) -> list[Recipient]:
    rows = []
    for i in range(n):
        r = Recipient(
            campaign_id=campaign.id,
            organisation_id=campaign.organisation_id,
            phone_e164=phone(first_phone + i),
            name=f"顧客{first_phone + i}",
            merge_data=json.dumps({"name": f"顧客{first_phone + i}"}, ensure_ascii=False),
            row_number=i + 1,
        )
        session.add(r)
        rows.append(r)
    session.commit()
    return rows
