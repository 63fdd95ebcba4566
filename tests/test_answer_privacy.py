"""Issue 18, item 12 (High, privacy): identity answers are kept only as their
keyed hashes.

The attack run found them hashed in their own table, but the whole imported
row, answers included, was also kept in the recipient's merge data, for CSV
and API imports alike, a question of kind ``secret`` too (a PIN ``4321``
stood in clear); and the SMS template accepted them (``{{birth_date}}``: the
SMS read "生年月日1966-06-06" next to the link). These tests import through
CSV and the REST API, then grep every text column of every table, and the
database file and its WAL after a checkpoint, for the answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select
from sqlmodel import SQLModel

from smspay_app.models import Campaign, CampaignQuestion, IdentityAnswer, Recipient
from smspay_app.services import campaigns
from smspay_app.services.imports import import_recipients_csv
from tests.factories import make_admin, make_key, make_org
from tests.helpers import CAMPAIGN, api_client, idem

BIRTH = "1966-06-06"
PIN = "ひみつ4321X"
NEEDLES = (BIRTH, "19660606", "1966/6/6", "1966/06/06", PIN, PIN.lower(), "4321X", "4321x")


def _text_cells(session) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text column of every table."""
    cells = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(getattr(c.type, "impl", c.type), String | Text)]
        if not columns:
            continue
        for row in session.execute(select(*columns)).all():
            for column, value in zip(columns, row):
                if value:
                    cells.append((table.name, column.name, str(value)))
    return cells


def _assert_nowhere(session, settings) -> None:
    session.commit()
    found = [(t, c) for t, c, v in _text_cells(session) for n in NEEDLES if n in v]
    assert found == [], f"answers stored in clear in {found}"
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        for file in (path, Path(f"{path}-wal")):
            if file.exists():
                data = file.read_bytes()
                assert not [n for n in NEEDLES if n.encode() in data], f"an answer is in {file.name}"
    finally:
        conn.close()


def _campaign_with_answers(session, org) -> Campaign:
    campaign = Campaign(organisation_id=org.id, name="請求", sms_template="{{name}}様 {{link}}", amount_yen=1000)
    session.add(campaign)
    session.flush()
    session.add(CampaignQuestion(campaign_id=campaign.id, position=0, label="生年月日", column="生年月日", kind="date"))
    session.add(CampaignQuestion(campaign_id=campaign.id, position=1, label="合言葉", column="合言葉", kind="secret"))
    session.commit()
    return campaign


def test_csv_import_keeps_answers_only_as_hashes_in_every_table_and_the_wal(session, settings):
    """Finding 12: a CSV import kept the whole row, the birth date and a
    ``secret`` PIN included, in the recipient's merge data."""
    org = make_org(session)
    campaign = _campaign_with_answers(session, org)
    csv = f"電話番号,氏名,生年月日,合言葉,備考\n09012340001,山田太郎,{BIRTH},{PIN},メモ\n".encode()
    report = import_recipients_csv(session, campaign, csv)
    assert report.imported_rows == 1, report.errors
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).scalars().one()
    assert (
        "備考" in recipient.merge_data
        and "生年月日" not in recipient.merge_data
        and "合言葉" not in recipient.merge_data
    )
    assert len(session.exec(select(IdentityAnswer).where(IdentityAnswer.recipient_id == recipient.id)).all()) == 2
    _assert_nowhere(session, settings)


def test_api_import_keeps_answers_only_as_hashes_in_every_table_and_the_wal(live_server, session, settings):
    """Finding 12: the REST API's add-recipients kept the answers (its
    ``fields``) in merge data too; the idempotency record of the call keeps
    no answer either."""
    admin = make_admin(session)
    key = make_key(session, admin)
    body = {
        **CAMPAIGN,
        "questions": [
            {"label": "生年月日", "column": "birth_date", "kind": "date"},
            {"label": "暗証番号", "column": "pin", "kind": "secret"},
        ],
    }
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json=body, headers=idem()).json()
        items = [{"phone": "09012340002", "name": "佐藤花子", "fields": {"birth_date": BIRTH, "pin": PIN, "memo": "x"}}]
        added = api.post(f"/api/v1/campaigns/{campaign['id']}/recipients", json={"recipients": items}, headers=idem())
        assert added.status_code == 200 and added.json()["added"] == 1, added.text
        one = api.get(f"/api/v1/recipients/{added.json()['items'][0]['recipient_id']}")
        assert not [n for n in NEEDLES if n in one.text]
    _assert_nowhere(session, settings)


@pytest.mark.parametrize("field", ["birth_date", "生年月日"])
def test_a_template_naming_an_answer_column_is_refused_with_a_clear_message(session, field):
    """Finding 12: ``{{birth_date}}`` was accepted in the SMS template of a
    campaign asking the birth date; it is refused (SMS text and page message),
    whether named by the column or by the same field in another language."""
    from smspay_app.i18n import t

    org = make_org(session)
    data = campaigns.CampaignInput(
        name="請求",
        sms_template=f"生年月日{{{{{field}}}}} {{{{link}}}}",
        page_message=f"{{{{{field}}}}}",
        questions=[campaigns.QuestionInput(label="生年月日", column="birth_date", kind="date")],
    )
    errors = {(e.field, e.key) for e in campaigns.validate(data, org)}
    assert ("sms_template", "campaign.error.template_answer_field") in errors
    assert ("page_message", "campaign.error.template_answer_field") in errors
    assert "差し込み項目に使えません" in t("campaign.error.template_answer_field", "ja")
    assert "cannot be merge fields" in t("campaign.error.template_answer_field", "en")
    fine = campaigns.CampaignInput(
        name="請求",
        amount_yen=1000,
        sms_template="{{name}}様 {{link}}",
        questions=[campaigns.QuestionInput(label="生年月日", column="birth_date", kind="date")],
    )
    assert campaigns.validate(fine, org) == []


def test_the_api_refuses_a_campaign_whose_sms_names_an_answer(live_server, session):
    """Finding 12 over the REST API: 422 with the field and the code."""
    admin = make_admin(session)
    key = make_key(session, admin)
    body = {**CAMPAIGN, "sms_template": "{{name}}様 生年月日{{birth_date}} {{link}}"}
    with api_client(live_server, key) as api:
        r = api.post("/api/v1/campaigns", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert "campaign.error.template_answer_field" in r.text


def test_a_reminder_text_naming_an_answer_column_is_refused(session):
    """Finding 12, the reminder SMS too: a reminder template naming an
    identity answer column is refused with the same message."""
    from smspay_app.services import auth, reminders
    from smspay_app.services.reminders import RulesInvalid

    org = make_org(session)
    campaign = _campaign_with_answers(session, org)
    operator = auth.Caller(1, org.id, "operator", "", "", "ja", "")
    good = [{"anchor": "first_send", "days": "7"}]
    with pytest.raises(RulesInvalid) as bad:
        reminders.save_rules(session, operator, campaign.id, good, 1, "{{name}}様 生年月日{{生年月日}} {{link}}")
    assert ("template", "campaign.error.template_answer_field") in {(e.field, e.key) for e in bad.value.errors}
    reminders.save_rules(session, operator, campaign.id, good, 1, "{{name}}様 お支払いをお願いします {{link}}")
