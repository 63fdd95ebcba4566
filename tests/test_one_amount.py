"""One amount everywhere: campaign invoice lines are every recipient's
invoice, so recipients imported with amounts of their own that differ from
the lines' total are refused at the send check, by name; a recipient page
never shows lines that do not add up to the amount charged; the gateway
gets the same lines when they add up."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from smspay_app.i18n import t
from smspay_app.models import Campaign, InvoiceLine, Payment, Recipient
from smspay_app.services import campaigns, journey, payments
from smspay_app.services.imports import import_recipients_csv
from smspay_app.web import recipient as recipient_web
from tests.factories import make_admin, make_caller, make_journey, make_key, make_org
from tests.helpers import BROWSER_UA, CAMPAIGN, api_client, idem


def _input(**overrides) -> campaigns.CampaignInput:
    data = dict(
        name="12月分ご請求",
        sms_template="{{name}}様 ご請求のお知らせです {{link}}",
        amount_yen=0,
        invoice_lines=[campaigns.InvoiceLineInput("12月分 ご利用料金", 1, 1_000)],
        questions=[campaigns.QuestionInput(label="生年月日", column="生年月日", kind="date")],
    )
    data.update(overrides)
    return campaigns.CampaignInput(**data)


def test_recipients_with_their_own_amounts_against_campaign_lines_are_refused_by_name(session):
    org = make_org(session, "デモ商事")
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input())
    csv = (
        "電話番号,氏名,生年月日,金額\n"
        "090-1234-5678,山田 太郎,1980/1/2,12800\n"
        "080-2345-6789,佐藤 花子,1990/3/4,1000\n"
        "070-3456-7890,鈴木 一郎,1970/5/6,500\n"
    ).encode()
    import_recipients_csv(session, campaign, csv)
    session.commit()
    problems = campaigns.send_check(session, op, campaign).problems
    assert [p.key for p in problems] == ["campaign.send.lines_mismatch"]
    params = problems[0].params
    assert params["count"] == 2 and params["total"] == "¥1,000"
    assert "山田 太郎 (¥12,800)" in params["recipients"] and "鈴木 一郎 (¥500)" in params["recipients"]
    assert "佐藤" not in params["recipients"]
    message = t("campaign.send.lines_mismatch", "ja", **params)
    assert "山田 太郎 (¥12,800)" in message and "¥1,000" in message
    assert "山田 太郎" in t("campaign.send.lines_mismatch", "en", **params)
    with pytest.raises(campaigns.SendBlocked) as refused:
        campaigns.send_campaign(session, op, campaign.id)
    assert refused.value.problems[0].key == "campaign.send.lines_mismatch"


def test_matching_amounts_pass_the_check(session):
    org = make_org(session, "デモ商事")
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input())
    import_recipients_csv(session, campaign, "電話番号,氏名,生年月日\n090-1234-5678,山田 太郎,1980/1/2\n".encode())
    session.commit()
    assert campaigns.send_check(session, op, campaign).problems == []


def test_page_never_shows_lines_that_do_not_add_up_to_the_charge(live_server, session):
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    j = make_journey(session, amount_yen=12_800)  # campaign lines total ¥12,340
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        q1, q2 = j.question_ids
        page = client.post(
            f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}, follow_redirects=True
        )
        assert "¥12,800" in page.text
        assert "基本料金" not in page.text and "従量料金" not in page.text
        to_gateway = client.post(f"/l/{j.token}/pay", data={})
        hosted = client.get(to_gateway.headers["location"])
        assert "¥12,800" in hosted.text and "基本料金" not in hosted.text


def test_lines_that_add_up_are_shown_and_sent_to_the_gateway(live_server, session):
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    j = make_journey(session)  # ¥12,340 = 10,000 + 2 x 1,170
    lines = session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == j.campaign_id)).all()
    assert sum(line.quantity * line.unit_price_yen for line in lines) == 12_340
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        q1, q2 = j.question_ids
        page = client.post(
            f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}, follow_redirects=True
        )
        assert "基本料金" in page.text and "従量料金" in page.text and "¥12,340" in page.text
        to_gateway = client.post(f"/l/{j.token}/pay", data={})
        hosted = client.get(to_gateway.headers["location"])
        assert "基本料金 × 1: ¥10,000" in hosted.text and "従量料金 × 2: ¥2,340" in hosted.text
    payment = session.exec(select(Payment).where(Payment.recipient_id == j.recipient_id)).one()
    assert payment.amount_yen == session.get(Recipient, j.recipient_id).amount_yen == 12_340


def test_per_recipient_lines_from_the_csv_add_up_to_the_charge(live_server, session):
    org = make_org(session, "デモ商事")
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input(page_title="12月分のご請求"))
    csv = (
        "電話番号,氏名,生年月日,明細,金額\n"
        "090-1234-5678,山田 太郎,1980/1/2,基本料金:10000; 従量料金:1400x2,\n"
        "080-2345-6789,佐藤 花子,1990/3/4,基本料金:500,500\n"
        "070-3456-7890,鈴木 一郎,1970/5/6,基本料金:500,900\n"
        "070-4567-8901,高橋 次郎,1970/5/6,基本料金=abc,\n"
    ).encode()
    report = import_recipients_csv(session, campaign, csv)
    session.commit()
    assert report.imported_rows == 2 and report.rejected_rows == 2
    errors = {e["row"]: e["reason_key"] for e in json.loads(report.errors)}
    assert errors == {4: "import.lines_total", 5: "import.invalid_lines"}  # row 1 is the header
    yamada = session.exec(select(Recipient).where(Recipient.name == "山田 太郎")).one()
    assert yamada.amount_yen == 12_800  # the lines' total
    # own lines are the recipients' invoices: no refusal for the campaign's ¥1,000 line
    assert campaigns.send_check(session, op, campaign).problems == []
    assert payments.invoice_lines_for(session, yamada) == [("基本料金", 1, 10_000), ("従量料金", 2, 1_400)]

    link_token = _link_for(session, yamada)
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        (q,) = campaigns.questions_of(session, campaign.id)
        page = client.post(f"/l/{link_token}/verify", data={f"q_{q.id}": "1980/1/2"}, follow_redirects=True)
        text = page.text
        assert "基本料金" in text and "¥10,000" in text and "¥2,800" in text and "¥12,800" in text
        assert "12月分 ご利用料金" not in text  # the campaign's line is not this recipient's invoice
        hosted = client.get(client.post(f"/l/{link_token}/pay", data={}).headers["location"])
        assert "基本料金 × 1: ¥10,000" in hosted.text and "従量料金 × 2: ¥2,800" in hosted.text
        assert "¥12,800" in hosted.text


def _link_for(session, recipient: Recipient) -> str:
    from smspay_app.services import links

    campaign = session.get(Campaign, recipient.campaign_id)
    campaign.status = "sending"
    recipient.status = "delivered"
    session.add_all([campaign, recipient])
    _, token = links.issue_link(session, recipient, 72)
    session.commit()
    return token


def test_per_recipient_lines_through_the_api(live_server, session):
    admin = make_admin(session)
    key = make_key(session, admin)
    with api_client(live_server, key) as api:
        campaign = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=idem()).json()
        lines = [{"item": "商品A", "quantity": 2, "unit_price_yen": 1_500}, {"item": "送料", "unit_price_yen": 800}]
        items = [
            {"phone": "09010000001", "name": "A", "lines": lines, "fields": {"birth_date": "1980-01-02"}},
            {
                "phone": "09010000002",
                "name": "B",
                "lines": lines,
                "amount_yen": 100,
                "fields": {"birth_date": "1980-01-02"},
            },
        ]
        added = api.post(f"/api/v1/campaigns/{campaign['id']}/recipients", json={"recipients": items}, headers=idem())
        assert added.status_code == 200, added.text
        body = added.json()
        assert body["added"] == 1, body
        assert [(e["field"], e["code"]) for e in body["items"][1]["errors"]] == [("lines", "import.lines_total")]
    r = session.exec(select(Recipient).where(Recipient.phone_e164 == "+819010000001")).one()
    assert r.amount_yen == 3_800
    assert payments.invoice_lines_for(session, r) == [("商品A", 2, 1_500), ("送料", 1, 800)]


def test_no_campaign_amount_when_the_csv_gives_each_recipients(session):
    """The editor no longer demands a campaign amount or lines: the CSV's
    amount column prices each recipient; one left without is refused at the
    send check by name."""
    org = make_org(session, "デモ商事")
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input(invoice_lines=[]))
    assert campaign.amount_yen == 0 and campaign.payment_enabled
    csv = (
        "電話番号,氏名,生年月日,金額\n090-1234-5678,山田 太郎,1980/1/2,12800\n080-2345-6789,佐藤 花子,1990/3/4,\n"
    ).encode()
    report = import_recipients_csv(session, campaign, csv)
    session.commit()
    # a row with nothing to charge is refused at import (the API's immediate send too)
    assert [(e["row"], e["reason_key"]) for e in json.loads(report.errors)] == [(3, "import.amount_missing")]
    assert campaigns.send_check(session, op, campaign).problems == []
    # and the send check names any recipient left without an amount
    yamada = session.exec(select(Recipient).where(Recipient.name == "山田 太郎")).one()
    yamada.amount_yen = 0
    session.add(yamada)
    session.commit()
    (problem,) = campaigns.send_check(session, op, campaign).problems
    assert problem.key == "campaign.send.no_amount"
    assert problem.params == {"count": 1, "recipients": "山田 太郎 (¥0)"}
