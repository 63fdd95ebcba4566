"""Recipient CSV import against a real migrated SQLite database."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pytest
from sqlmodel import select

from smspay_app.domain.answers import hash_answer
from smspay_app.domain.clock import frozen
from smspay_app.models import (
    Campaign,
    CampaignQuestion,
    IdentityAnswer,
    OptOut,
    Organisation,
    Recipient,
    RecipientImport,
    TimelineEvent,
)
from smspay_app.services.imports import errors_csv, import_recipients_csv
from tests.factories import make_org


@pytest.fixture
def campaign(session):
    org = make_org(session, "ABC商事")
    camp = Campaign(
        organisation_id=org.id,
        name="4月請求",
        amount_yen=5000,
        due_date=date(2025, 4, 30),
        sms_template="{{氏名}}様 ご請求のお知らせです。",
    )
    session.add(camp)
    session.flush()
    session.add(CampaignQuestion(campaign_id=camp.id, position=0, label="生年月日", column="birth_date", kind="date"))
    session.commit()
    return camp


def _cp932_file() -> bytes:
    rows = [
        ["顧客番号", "氏名", "携帯番号", "請求金額", "支払期限", "生年月日"],
        ["C001", "山田 太郎", "０９０－１２３４－５６７８", "１，２００円", "2025/5/31", "昭和55年1月2日"],  # row 2 ok
        ["C002", "佐藤 花子", "03-1234-5678", "3000", "", "1990/3/4"],  # row 3 landline
        ["C003", "鈴木 一郎", "080 2222 3333", "", "", "H2.3.4"],  # row 4 ok (campaign amount)
        ["C004", "山田 太郎", "09012345678", "1200", "", "S55.1.2"],  # row 5 duplicate of row 2
        ["C005", "高橋 次郎", "070-4444-5555", "800", "", "19700101"],  # row 6 opted out
        ["C006", "田中 三郎", "+81 90 9999 8888", "￥2,500", "令和7年6月1日", "2000-12-31"],  # row 7 ok
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("cp932")


@pytest.mark.also_on_postgresql
def test_cp932_japanese_headers_report_exactly_the_bad_rows(session, campaign, settings):
    session.add(OptOut(organisation_id=campaign.organisation_id, phone_e164="+817044445555"))
    session.commit()
    calls = []
    with frozen(datetime(2025, 4, 1, 9, 0)):
        report = import_recipients_csv(
            session, campaign, _cp932_file(), filename="list.csv", progress=lambda d, t: calls.append((d, t))
        )
    assert report.status == "done"
    assert (report.total_rows, report.imported_rows, report.rejected_rows) == (6, 3, 1)
    assert (report.duplicate_rows, report.opted_out_rows) == (1, 1)
    errors = json.loads(report.errors)
    assert [(e["row"], e["column"], e["reason_key"]) for e in errors] == [
        (3, "携帯番号", "phone.landline"),
        (5, "携帯番号", "import.duplicate_in_file"),
        (6, "携帯番号", "import.opted_out"),
    ]
    assert errors[1]["params"] == {"first_row": 2}
    assert calls and calls[-1] == (6, 6)

    recipients = session.exec(
        select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.row_number)
    ).all()
    assert [(r.row_number, r.phone_e164, r.amount_yen, r.due_date) for r in recipients] == [
        (2, "+819012345678", 1200, date(2025, 5, 31)),
        (4, "+818022223333", 5000, date(2025, 4, 30)),
        (7, "+819099998888", 2500, date(2025, 6, 1)),
    ]
    first = recipients[0]
    assert first.name == "山田 太郎" and first.external_ref == "C001" and first.status == "created"
    merge = json.loads(first.merge_data)
    assert merge["氏名"] == "山田 太郎" and merge["携帯番号"] == "０９０－１２３４－５６７８"
    assert merge["amount"] == "1200" and merge["customer_number"] == "C001"
    assert merge["due_date"] == "2025-05-31"

    # Answers: keyed hash of the normalised date, one per recipient.
    question = session.exec(select(CampaignQuestion)).one()
    answers = {a.recipient_id: a.answer_hash for a in session.exec(select(IdentityAnswer))}
    assert answers[first.id] == hash_answer("test-secret-key", first.id, question.id, "1980-01-02")
    assert answers[recipients[1].id] == hash_answer("test-secret-key", recipients[1].id, question.id, "1990-03-04")
    assert len(answers) == 3

    events = session.exec(select(TimelineEvent).order_by(TimelineEvent.recipient_id)).all()
    assert [e.recipient_id for e in events] == [r.id for r in recipients]
    assert all(e.kind == "imported" and e.at == datetime(2025, 4, 1, 9, 0) for e in events)
    detail = json.loads(events[0].detail)
    assert detail == {"import_id": report.id, "row": 2}  # no personal data


def test_second_import_reports_numbers_already_in_campaign(session, campaign):
    import_recipients_csv(session, campaign, _cp932_file())
    report = import_recipients_csv(session, campaign, _cp932_file())
    assert report.imported_rows == 0
    keys = [e["reason_key"] for e in json.loads(report.errors)]
    assert keys == ["import.duplicate_in_campaign", "phone.landline"] + ["import.duplicate_in_campaign"] * 4
    assert len(session.exec(select(Recipient)).all()) == 4


def test_invalid_cells_are_listed_per_column(session, campaign):
    data = (
        "電話番号,氏名,金額,支払期限,生年月日\n"
        "09011112222,A,abc,2025/13/01,\n"  # amount, due date, answer missing
        "09011113333,,100,,1980/1/2\n"  # name empty: the SMS template needs {{氏名}}
        "0120-444-555,B,100,,1980/1/2\n"  # free dial
    ).encode()
    report = import_recipients_csv(session, campaign, data, lang="en")
    errors = [(e["row"], e["column"], e["reason_key"]) for e in json.loads(report.errors)]
    assert errors == [
        (2, "金額", "import.invalid_amount"),
        (2, "支払期限", "import.invalid_date"),
        (2, "生年月日", "answer.missing"),
        (3, "氏名", "import.missing_value"),
        (4, "電話番号", "phone.free_dial"),
    ]
    assert report.rejected_rows == 3 and report.imported_rows == 0
    assert "Imported 0" in report.message


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"PK\x03\x04binaryxlsx", "csv.not_csv"),
        (b"", "csv.empty"),
        ("氏名,金額\n山田,100\n".encode(), "csv.no_phone_column"),
        (b"\x00\x01\x02\x03garbage\x00\x00", "csv.not_csv"),
    ],
)
def test_whole_file_errors_import_nothing(session, campaign, data, code):
    report = import_recipients_csv(session, campaign, data, filename="x.csv")
    assert report.status == "failed"
    assert report.id is not None
    assert json.loads(report.errors)[0]["reason_key"] == code
    assert session.exec(select(Recipient)).all() == []
    assert session.exec(select(TimelineEvent)).all() == []
    stored = session.exec(select(RecipientImport)).one()
    assert stored.status == "failed" and stored.message


def test_size_limit_imports_nothing_with_clear_message(session, campaign):
    data = ("電話番号\n" + "09012345678\n" * 200).encode()
    report = import_recipients_csv(session, campaign, data, max_bytes=1024, lang="en")
    assert report.status == "failed"
    assert "too large" in report.message
    assert session.exec(select(Recipient)).all() == []


@pytest.mark.also_on_postgresql
def test_failure_mid_import_leaves_campaign_unchanged(session, campaign):
    data = "電話番号,氏名,生年月日\n09012345678,A,1980/1/2\n09012345679,B,1980/1/2\n".encode()

    def boom(done, total):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        import_recipients_csv(session, campaign, data, progress=boom)
    assert session.exec(select(Recipient)).all() == []
    assert session.exec(select(IdentityAnswer)).all() == []
    assert session.exec(select(RecipientImport)).one().status == "failed"


def test_explicit_mapping_tab_separated_utf8_bom_and_quoted_newlines(session, campaign):
    campaign.sms_template = "ご請求 {{memo}}"
    session.add(campaign)
    session.commit()
    data = (
        "\ufeffmobile\tfull name\tmemo\tdob\n"
        '090-5555-6666\t"Taro\nYamada"\t"line1\nline2"\t1980-01-02\n'
        "090-5555-7777\tHanako\tnote\t1981/2/3\n"
    ).encode("utf-8")
    report = import_recipients_csv(
        session, campaign, data, mapping={"phone": "mobile", "name": "full name", "birth_date": "dob"}
    )
    assert report.imported_rows == 2, report.errors
    rows = session.exec(select(Recipient).order_by(Recipient.row_number)).all()
    assert rows[0].name == "Taro\nYamada"
    assert json.loads(rows[0].merge_data)["memo"] == "line1\nline2"
    assert [r.row_number for r in rows] == [2, 3]


def test_mapping_to_missing_header_fails(session, campaign):
    data = "電話番号\n09012345678\n".encode()
    report = import_recipients_csv(session, campaign, data, mapping={"phone": "tel"})
    assert report.status == "failed"
    assert json.loads(report.errors)[0]["reason_key"] == "csv.unknown_column"


def test_errors_csv_is_bom_utf8_translated_and_formula_safe(session, campaign):
    data = "=cmd|' /C calc'!A0,生年月日,氏名\n03-1234-5678,1980/1/2,A\n".encode()
    report = import_recipients_csv(session, campaign, data, mapping={"phone": "=cmd|' /C calc'!A0"})
    body = errors_csv(report, "en")
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["Row", "Column", "Reason"]
    assert rows[1][0] == "2"
    assert rows[1][1].startswith("'=")
    assert "Landline" in rows[1][2]
    ja = list(csv.reader(io.StringIO(errors_csv(report, "ja").decode("utf-8-sig"))))
    assert ja[0] == ["行", "列", "理由"] and "固定電話" in ja[1][2]


def test_foreign_numbers_only_when_the_organisation_allows(session, campaign):
    data = "電話番号,氏名,生年月日\n+44 7911 123456,A,1980/1/2\n".encode()
    report = import_recipients_csv(session, campaign, data)
    assert json.loads(report.errors)[0]["reason_key"] == "phone.foreign_not_allowed"
    org = session.get(Organisation, campaign.organisation_id)
    org.allow_foreign_numbers = True
    session.add(org)
    session.commit()
    report = import_recipients_csv(session, campaign, data)
    assert report.imported_rows == 1
    assert session.exec(select(Recipient)).one().phone_e164 == "+447911123456"


def test_estimate_over_imported_recipients_uses_real_link_length(session, campaign, settings):
    from smspay_app.domain.sms_text import analyze_sms, render_sms
    from smspay_app.services.links import link_url
    from smspay_app.services.sms_message import estimate_campaign_sms

    data = "電話番号,氏名,生年月日\n09011112222,A,1980/1/2\n09011113333,山田山田山田山田山田山田山田山田,1980/1/2\n".encode()
    import_recipients_csv(session, campaign, data)
    est = estimate_campaign_sms(session, campaign)
    real = render_sms(campaign.sms_template, {"氏名": "山田" * 8}, link_url("A" * 22), "【ABC商事】")
    assert est.rows == 2 and est.worst_row == 1
    assert est.worst == analyze_sms(real)
    assert est.cost_yen == est.total_segments * 10  # organisation default ¥10 a segment
    broken = estimate_campaign_sms(session, campaign, "{{氏名}} {{missing}}")
    assert [e["code"] for e in broken.errors] == ["template.unknown_field"] * 2


@pytest.mark.also_on_postgresql
def test_progress_in_chunks_and_ids_continue_across_campaigns(session, campaign):
    other = Campaign(organisation_id=campaign.organisation_id, name="other", amount_yen=100)
    session.add(other)
    session.commit()
    small = "電話番号\n09011110001\n09011110002\n".encode()
    import_recipients_csv(session, other, small)
    lines = ["電話番号,氏名,生年月日"] + [f"090{10_000_000 + i:08d},N{i},1980/1/2" for i in range(4500)]
    calls = []
    report = import_recipients_csv(
        session, campaign, "\n".join(lines).encode(), progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(2000, 4500), (4000, 4500), (4500, 4500)]
    assert report.imported_rows == 4500
    ids = session.exec(select(Recipient.id).order_by(Recipient.id)).all()
    assert ids == list(range(1, 4503))  # no clash with the other campaign's rows
    q = session.exec(select(CampaignQuestion)).one()
    last = session.exec(select(Recipient).where(Recipient.row_number == 4501)).one()
    stored = session.exec(select(IdentityAnswer).where(IdentityAnswer.recipient_id == last.id)).one()
    assert stored.answer_hash == hash_answer("test-secret-key", last.id, q.id, "1980-01-02")


def test_question_column_named_in_another_language_resolves_through_its_field(session, campaign):
    """A question bound to "生年月日" reads an English file's "date of birth"."""
    q = session.exec(select(CampaignQuestion).where(CampaignQuestion.campaign_id == campaign.id)).one()
    q.column = "生年月日"
    session.add(q)
    session.commit()
    data = b"phone,name,date of birth\n090-1234-5678,Yamada,1980/1/2\n"
    report = import_recipients_csv(session, campaign, data)
    assert (report.status, report.imported_rows) == ("done", 1), report.errors
    assert session.exec(select(IdentityAnswer)).one()


def test_errors_quote_the_rejected_value_but_never_a_phone_or_an_answer(session, campaign):
    from smspay_app.services.imports import errors_csv

    data = (
        "電話番号,氏名,金額,支払期限,生年月日\n"
        "09011112222,A,12千円,2025/13/01,1980/1/2\n"
        "0120-444-555,B,100,,19800102x\n"
    ).encode()
    report = import_recipients_csv(session, campaign, data, lang="en")
    reasons = {(e["row"], e["column"]): e["reason"] for e in json.loads(report.errors)}
    assert reasons[(2, "金額")].endswith("(given: “12千円”)")
    assert reasons[(2, "支払期限")].endswith("(given: “2025/13/01”)")
    assert "19800102x" not in report.errors and "0120-444-555" not in report.errors
    ja = errors_csv(report, "ja").decode("utf-8-sig")
    assert "金額を読み取れません（0以上の整数の円で入力してください）。（入力値:「12千円」）" in ja
    assert "（入力値:「2025/13/01」）" in ja
