"""Campaign authoring services: editing drafts, validation before send (worst
case over every recipient with the real link length), sending controls, and
uploaded files kept server-side (real SQLite through Alembic)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain.clock import utcnow
from smspay_app.models import AuditLog, Campaign, InvoiceLine, SendAttempt
from smspay_app.services import auth, campaigns, uploads
from smspay_app.services.imports import import_recipients_csv
from tests.factories import make_caller, make_org


def _input(**overrides) -> campaigns.CampaignInput:
    data = dict(
        name="6月分ご請求",
        sms_template="{{name}}様 ご請求のお知らせです {{link}}",
        amount_yen=3300,
        questions=[campaigns.QuestionInput(label="生年月日", column="生年月日", kind="date")],
    )
    data.update(overrides)
    return campaigns.CampaignInput(**data)


CSV = "電話番号,氏名,生年月日\n090-1234-5678,山田 太郎,1980/1/2\n080-2345-6789,佐藤 花子,1990/3/4\n".encode()


@pytest.fixture
def org(session):
    return make_org(session, "デモ商事", segment_price_yen=8.0)


def test_create_with_new_fields_and_read_back(session, org):
    op = make_caller(session, org)
    at = utcnow().replace(microsecond=0) + timedelta(days=1)
    data = _input(
        amount_yen=0,
        invoice_lines=[campaigns.InvoiceLineInput("点検費", 1, 3000), campaigns.InvoiceLineInput("部品", 2, 150)],
        due_date=date(2030, 6, 30),
        scheduled_at=at,
        quiet_hours_start="20:00",
        quiet_hours_end="09:00",
    )
    campaign = campaigns.create_campaign(session, op, data)
    assert campaign.amount_yen == 3300  # the lines' total
    back = campaigns.campaign_input(session, campaign)
    assert [(l.item, l.quantity, l.unit_price_yen) for l in back.invoice_lines] == [
        ("点検費", 1, 3000),
        ("部品", 2, 150),
    ]
    assert (back.scheduled_at, back.quiet_hours_start, back.quiet_hours_end) == (at, "20:00", "09:00")
    assert back.due_date == date(2030, 6, 30)
    assert session.exec(select(AuditLog).where(AuditLog.action == "campaign.create")).one().target_id == campaign.id


def test_notice_only_with_read_confirmation_and_otp(session, org):
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(
        session,
        op,
        _input(
            payment_enabled=False,
            amount_yen=0,
            ask_read_confirmation=True,
            verification_mode="otp",
            questions=[],
            invoice_lines=[campaigns.InvoiceLineInput("x", 1, 1)],
        ),
    )
    assert (campaign.payment_enabled, campaign.ask_read_confirmation, campaign.verification_mode) == (
        False,
        True,
        "otp",
    )
    assert campaign.amount_yen == 0
    assert session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id)).all() == []


def test_validation_of_new_fields(session, org):
    op = make_caller(session, org)
    with pytest.raises(campaigns.CampaignInvalid) as exc:
        campaigns.create_campaign(
            session,
            op,
            _input(
                sms_template="{{a}}{{b}}{{c}}{{d}}{{e}}{{f}}{{g}}{{h}}{{i}}{{j}}{{k}} {{link}}",
                scheduled_at=utcnow() - timedelta(minutes=1),
                quiet_hours_start="25:00",
                quiet_hours_end="08:00",
                invoice_lines=[campaigns.InvoiceLineInput("", 0, 100)],
                verification_mode="otp",
            ),
        )
    assert {e.key for e in exc.value.errors} == {
        "template.too_many_fields",
        "campaign.error.schedule_past",
        "campaign.error.quiet_hours",
        "campaign.error.line_invalid",
        "campaign.error.otp_no_questions",
    }


def test_update_draft_only_own_org_and_questions_fixed_after_import(session, org):
    op = make_caller(session, org)
    other = make_caller(session, make_org(session, "他社"), "admin")
    campaign = campaigns.create_campaign(session, op, _input())
    with pytest.raises(campaigns.CampaignInvalid):
        campaigns.update_campaign(session, other, campaign.id, _input(name="乗っ取り"))
    updated = campaigns.update_campaign(session, op, campaign.id, _input(name="6月分（訂正）", amount_yen=5000))
    assert (updated.name, updated.amount_yen) == ("6月分（訂正）", 5000)

    import_recipients_csv(session, campaign, CSV)
    qid = campaigns.questions_of(session, campaign.id)[0].id
    with pytest.raises(campaigns.CampaignInvalid) as exc:
        campaigns.update_campaign(
            session, op, campaign.id, _input(questions=[campaigns.QuestionInput("郵便番号", "郵便番号", "digits")])
        )
    assert [e.key for e in exc.value.errors] == ["campaign.error.questions_locked"]
    # The wording may change; the question row (and its hashed answers) stays.
    campaigns.update_campaign(
        session, op, campaign.id, _input(questions=[campaigns.QuestionInput("お誕生日", "生年月日", "date")])
    )
    (q,) = campaigns.questions_of(session, campaign.id)
    assert (q.id, q.label) == (qid, "お誕生日")

    campaign.status = "sending"
    session.add(campaign)
    session.commit()
    with pytest.raises(campaigns.CampaignInvalid) as exc:
        campaigns.update_campaign(session, op, campaign.id, _input())
    assert exc.value.errors[0].key == "campaign.error.not_editable"


def test_send_check_worst_case_over_rows_blocks_over_cap(session, org):
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input(sms_template="{{name}}様 {{メモ}} {{link}}"))
    rows = [
        "電話番号,氏名,生年月日,メモ",
        "090-1111-2222,短,1980/1/1,短いメモ",
        f"090-3333-4444,長,1980/1/1,{'あ' * 640}",
    ]
    import_recipients_csv(session, campaign, "\n".join(rows).encode())
    check = campaigns.send_check(session, op, campaign)
    assert check.recipients == 2
    assert check.estimate.worst.chars > org.carrier_char_cap and check.estimate.worst_row == 1
    assert [p.key for p in check.problems] == ["campaign.send.over_cap"]
    with pytest.raises(campaigns.SendBlocked) as exc:
        campaigns.send_campaign(session, op, campaign.id)
    assert exc.value.problems[0].params["cap"] == 660
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "draft"
    assert session.exec(select(SendAttempt)).all() == []


def test_send_check_reports_rows_missing_fields_and_no_recipients(session, org):
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input(sms_template="{{name}}様 {{会員番号}} {{link}}"))
    assert {p.key for p in campaigns.send_check(session, op, campaign).problems} == {"sending.error.no_recipients"}
    import_recipients_csv(session, campaign, CSV)  # no 会員番号 column
    problems = campaigns.send_check(session, op, campaign).problems
    assert [(p.key, p.params) for p in problems] == [
        ("campaign.send.rows_unknown_field", {"field": "会員番号", "count": 2})
    ]


def test_send_cost_and_controls(session, org):
    op = make_caller(session, org)
    support = make_caller(session, org, "support")
    campaign = campaigns.create_campaign(session, op, _input())
    import_recipients_csv(session, campaign, CSV)
    check = campaigns.send_check(session, op, campaign)
    # 71 UCS-2 characters each (prefix + text + real-length link): 2 segments, 8 yen each.
    assert check.ok and check.estimate.worst.chars == 71
    assert check.estimate.total_segments == 4 and check.estimate.cost_yen == 32
    with pytest.raises(auth.NotAllowed):
        campaigns.send_campaign(session, support, campaign.id)
    assert campaigns.send_campaign(session, op, campaign.id) == 2
    assert session.get(Campaign, campaign.id).status == "sending"
    campaigns.change_sending(session, op, campaign.id, "pause")
    assert session.get(Campaign, campaign.id).status == "paused"
    with pytest.raises(campaigns.SendBlocked) as exc:
        campaigns.change_sending(session, op, campaign.id, "pause")
    assert exc.value.problems[0].key == "sending.error.cannot_pause"
    campaigns.change_sending(session, op, campaign.id, "resume")
    assert campaigns.change_sending(session, op, campaign.id, "cancel") == 2
    assert session.get(Campaign, campaign.id).status == "cancelled"
    actions = session.exec(select(AuditLog.action).where(AuditLog.target_id == campaign.id)).all()
    assert {"campaign.send", "campaign.pause", "campaign.resume", "campaign.cancel"} <= set(actions)


def test_schedule_in_future(session, org):
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input())
    import_recipients_csv(session, campaign, CSV)
    with pytest.raises(campaigns.SendBlocked):
        campaigns.send_campaign(session, op, campaign.id, scheduled_at=utcnow() - timedelta(hours=1))
    at = utcnow() + timedelta(hours=3)
    campaigns.send_campaign(session, op, campaign.id, scheduled_at=at)
    assert session.get(Campaign, campaign.id).status == "scheduled"
    attempt = session.exec(select(SendAttempt)).first()
    assert attempt.not_before == at


def test_uploads_bound_to_organisation_and_purged(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "upload_dir", str(tmp_path / "up"))
    token = uploads.store_upload(1, CSV)
    assert uploads.load_upload(1, token) == CSV
    assert uploads.load_upload(2, token) is None  # another organisation
    assert uploads.load_upload(1, "../../etc/passwd") is None
    preview = uploads.preview_upload(CSV)
    assert preview.headers == ["電話番号", "氏名", "生年月日"] and preview.total_rows == 2
    assert preview.suggestion["phone"] == "電話番号" and preview.suggestion["name"] == "氏名"
    with pytest.raises(uploads.UploadTooLarge):
        uploads.store_upload(1, b"x" * 101, max_bytes=100)
    # 25 hours after the file system stamped the upload (its clock, not the
    # process's: the clock check shifts only the process's).
    stored = max(p.stat().st_mtime for p in uploads.upload_dir().glob("*.csv"))
    assert uploads.purge_stale_uploads(now=stored + 25 * 3600) == 1
    assert uploads.load_upload(1, token) is None
