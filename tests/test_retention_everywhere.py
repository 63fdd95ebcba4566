"""Issue 18, item 13 (Medium, privacy): after retention no erased phone, name,
reference or answer is left in any table, nor in the database file or its
write-ahead log, for CSV, API and draft campaigns.

The attack run found after a campaign's erasure: free-text reasons staff typed
into the audit log ("ご家族(高橋様 090-7300-0004)..."), webhook delivery
payloads (references ``CUST-0001``-``0006``), API idempotency records keeping
full response bodies a year later, and the old values in SQLite's WAL until
a checkpoint. A draft campaign's imported recipients survived 3,650 days, and
every API add-and-send reset the campaign's completion time (the first API
recipient was kept 565 days under a 365-day setting). After erasure the API
showed ``phone: erased-1`` instead of ``null``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import String, Text, select
from sqlmodel import SQLModel

from smspay_app.domain import clock
from smspay_app.models import Campaign, CampaignQuestion, Organisation, Recipient
from smspay_app.services import actions, webhooks
from smspay_app.services.imports import import_recipients_csv
from smspay_app.worker import retention as retention_job
from tests.factories import make_admin, make_caller, make_key
from tests.helpers import CAMPAIGN, api_client, idem

T0 = datetime(2031, 3, 1, 3, 0)
NEEDLES = (
    "+819073000004",
    "090-7300-0004",
    "09073000004",
    "+819073000005",
    "+819073000006",
    "高橋",
    "佐藤",
    "鈴木",
    "CUST-0001",
    "CUST-0002",
    "CUST-0003",
    "1966-06-06",
    "19660606",
)


def _grep_everything(session, settings) -> list[str]:
    found = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(getattr(c.type, "impl", c.type), String | Text)]
        for row in session.execute(select(*columns)).all() if columns else []:
            for column, value in zip(columns, row):
                for needle in NEEDLES:
                    if value and needle in str(value):
                        found.append(f"{table.name}.{column.name}: {needle}")
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    for file in (path, Path(f"{path}-wal")):
        if file.exists():
            data = file.read_bytes()
            found += [f"{file.name}: {n}" for n in NEEDLES if n.encode() in data]
    return found


def _csv_campaign(session, org, status: str) -> Campaign:
    campaign = Campaign(
        organisation_id=org.id, name=f"{status}", sms_template="{{name}}様 {{link}}", status=status, amount_yen=1000
    )
    session.add(campaign)
    session.flush()
    session.add(CampaignQuestion(campaign_id=campaign.id, position=0, label="生年月日", column="生年月日", kind="date"))
    session.commit()
    return campaign


def test_after_retention_no_personal_data_is_left_anywhere(live_server, session, settings):
    """Finding 13, every copy: CSV (sent, with a staff reason and a webhook
    delivery), API (with idempotency records) and draft recipients, erased
    from their own last activity; then every table's text columns, the
    database file and its WAL are grepped for phones, names, references and
    answers; the API shows ``phone: null``."""
    with clock.frozen(T0) as clk:
        admin = make_admin(session)
        org = session.get(Organisation, admin.organisation_id)
        org.data_retention_days = 30
        session.add(org)
        session.commit()
        webhooks.create_endpoint(session, admin, "http://127.0.0.1:9/hooks", ["recipient.paid"])
        session.commit()
        sent = _csv_campaign(session, org, "sending")
        csv = "電話番号,氏名,お客様番号,生年月日\n090-7300-0004,高橋一郎,CUST-0001,1966-06-06\n".encode()
        assert import_recipients_csv(session, sent, csv).imported_rows == 1
        recipient = session.exec(select(Recipient).where(Recipient.campaign_id == sent.id)).scalars().one()
        support = make_caller(session, org, "support")
        actions.mark_paid_outside(session, support, recipient.id, "ご家族(高橋様 090-7300-0004)が窓口で支払い")
        session.commit()
        draft = _csv_campaign(session, org, "draft")
        csv = "電話番号,氏名,お客様番号,生年月日\n090-7300-0005,鈴木花子,CUST-0003,1966-06-06\n".encode()
        assert import_recipients_csv(session, draft, csv).imported_rows == 1
        key = make_key(session, admin)
        with api_client(live_server, key) as api:
            campaign = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=idem()).json()
            item = {
                "phone": "090-7300-0006",
                "name": "佐藤次郎",
                "reference": "CUST-0002",
                "fields": {"birth_date": "1966-06-06"},
            }
            added = api.post(
                f"/api/v1/campaigns/{campaign['id']}/recipients", json={"recipients": [item]}, headers=idem()
            )
            assert added.status_code == 200, added.text
            api_recipient = added.json()["items"][0]["recipient_id"]
        before = " ".join(_grep_everything(session, settings))  # the copies are there before retention
        for where in ("auditlog.reason", "webhookdelivery.payload", "recipient.phone_e164", "recipient.merge_data"):
            assert where in before, before

        clk.tick(timedelta(days=29))
        assert retention_job_run(session) == set()  # nobody is 30 days past their last activity yet
        clk.tick(timedelta(days=1, seconds=1))
        erased = retention_job_run(session)
        assert erased == {sent.id, draft.id, campaign["id"]}
        session.expire_all()
        assert _grep_everything(session, settings) == []
        with api_client(live_server, key) as api:
            shown = api.get(f"/api/v1/recipients/{api_recipient}").json()
        assert shown["phone"] is None and shown["name"] == ""


def retention_job_run(session) -> set[int]:
    import asyncio

    session.commit()
    return {d.campaign_id for d in asyncio.run(retention_job.run_once())}


def test_an_api_add_after_others_does_not_keep_the_first_recipient_longer(session, settings):
    """Finding 13 (565 days under a 365-day setting): each recipient's clock
    runs from its own last activity, not from the campaign's completion time
    that later additions reset."""
    from smspay_app.services import retention
    from tests.factories import add_recipients, make_org

    org = make_org(session, data_retention_days=365)
    with clock.frozen(T0):
        campaign = Campaign(organisation_id=org.id, name="API", status="active", completed_at=T0)
        session.add(campaign)
        session.commit()
        [first] = add_recipients(session, campaign, 1)
    with clock.frozen(T0 + timedelta(days=200)):
        add_recipients(session, campaign, 1, first_phone=5)
        campaign.completed_at = T0 + timedelta(days=200)  # what an add-and-send did to the campaign
        session.add(campaign)
        session.commit()
    with clock.frozen(T0 + timedelta(days=366)):
        retention.erase_due(session)
        session.commit()
    session.expire_all()
    kept = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)).scalars()
    assert [r.erased_at is not None for r in kept] == [True, False]
    assert session.get(Recipient, first.id).phone_e164 == f"erased-{first.id}"
