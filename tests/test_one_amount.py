"""One amount everywhere: campaign invoice lines are every recipient's
invoice, so recipients imported with amounts of their own that differ from
the lines' total are refused at the send check, by name; a recipient page
never shows lines that do not add up to the amount charged; the gateway
gets the same lines when they add up."""

from __future__ import annotations

import pytest
from sqlmodel import select

from smspay_app.i18n import t
from smspay_app.models import InvoiceLine, Payment, Recipient
from smspay_app.services import campaigns, journey
from smspay_app.services.imports import import_recipients_csv
from smspay_app.web import recipient as recipient_web
from tests.factories import make_caller, make_journey, make_org
from tests.helpers import BROWSER_UA


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
