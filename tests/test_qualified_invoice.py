"""Qualified invoices (issue 15, 適格請求書): the registration number (T + 13
digits with the corporate number's check digit) and the tax per rate, one
rounding (cut off) per rate per invoice."""

from __future__ import annotations

import pytest

from smspay_app.domain import invoice
from smspay_app.domain.invoice import Line


@pytest.mark.parametrize(
    "value, ok",
    [
        ("T7010705000725", True),  # the corporate number 7010705000725
        ("T8010001008846", False),  # one digit off: the check digit catches it
        ("T701070500072", False),  # 12 digits
        ("70107050007250", False),  # no T
        ("T70107050007X5", False),
        ("", False),
    ],
)
def test_registration_number(value, ok):
    assert invoice.valid_registration_number(value) is ok


def test_registration_number_normalised_from_what_people_type():
    assert invoice.normalise_registration_number("ｔ７０１０-７０５０-００７２５ ") == "T7010705000725"
    assert invoice.check_digit("010705000725") == 7


def test_tax_per_rate_one_rounding_per_rate():
    lines = [
        Line("会費", 1, 3_300, 10),
        Line("教材", 3, 1_099, 10),  # 3,297
        Line("お弁当", 2, 648, 8),  # 1,296
        Line("お茶", 1, 151, 8),
    ]
    totals = invoice.totals(lines)
    ten, eight = totals.per_rate
    assert (ten.rate, ten.total_yen, ten.tax_yen) == (10, 6_597, 599)  # 6597*10/110 = 599.7 -> 599
    assert (eight.rate, eight.total_yen, eight.tax_yen) == (8, 1_447, 107)  # 1447*8/108 = 107.2 -> 107
    # Per line it would have been 300 + 299 (=599) and 96 + 11 (=107) here, but
    # per-line rounding can differ: 3 x 1,099 per unit is 99.9 -> 99 each = 297, not 299.
    assert sum(invoice.tax_included(1_099, 10) for _ in range(3)) == 297
    assert totals.total_yen == 8_044 and totals.tax_yen == 706
    assert ten.net_yen == 5_998 and eight.net_yen == 1_340


def test_only_ten_and_eight_percent():
    with pytest.raises(ValueError):
        invoice.totals([Line("x", 1, 100, 5)])
    assert [r.rate for r in invoice.totals([Line("x", 1, 108, 8)]).per_rate] == [8]


# ------------------------------------------------------------------ the printable page and the PDF


def _verify(client, j):
    from tests.helpers import form_to

    landing = client.get(f"/l/{j.token}")
    form = form_to(landing.text, "/verify")
    fields = dict(form["fields"])
    q_birth, q_number = j.question_ids
    fields[f"q_{q_birth}"], fields[f"q_{q_number}"] = "1980-01-02", "123456"
    assert client.post(form["action"], data=fields).status_code == 303


def _pdf_text(data: bytes) -> str:
    import io

    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def test_invoice_and_receipt_pages_and_pdf_carry_every_required_item(live_server, session):
    from datetime import datetime

    from smspay_app.models import InvoiceLine, Recipient
    from smspay_app.services import settings as org_settings
    from smspay_app.web import recipient as recipient_web
    from tests.factories import make_journey, signed_in

    recipient_web.post_limiter.reset()
    j = make_journey(session, amount_yen=12_984)
    # One reduced-rate line: 10,000 + 2 x 1,170 (10%) and 644 (8%).
    session.add(InvoiceLine(campaign_id=j.campaign_id, position=2, item="お弁当", unit_price_yen=644, tax_rate=8))
    from smspay_app.models import Organisation

    org = session.get(Organisation, j.organisation_id)
    _, admin = signed_in(session, org, "admin")
    with pytest.raises(org_settings.SettingsInvalid):
        org_settings.set_invoice_registration_number(session, admin, "T1234567890123")  # bad check digit
    assert org_settings.set_invoice_registration_number(session, admin, "Ｔ7010705000725") == "T7010705000725"
    session.commit()

    with live_server.client() as stranger:  # not verified: back to the identity check
        assert stranger.get(f"/l/{j.token}/invoice").status_code == 303
        assert stranger.get(f"/l/{j.token}/invoice.pdf").status_code == 303

    # 10%: 12,340 -> tax 1,121 (1121.8 cut off); 8%: 644 -> tax 47 (47.7 cut off).
    required = [
        "請求書",
        "山田太郎 様",
        "テスト電力株式会社",
        "登録番号: T7010705000725",
        f"番号: {j.campaign_id:05d}-{j.recipient_id:07d}",
        "発行日: ",
        "基本料金",
        "お弁当 ※",
        "8%",
        "10%対象 合計 ¥12,340（うち消費税 ¥1,121）",
        "8%対象（軽減税率） 合計 ¥644（うち消費税 ¥47）",
        "ご請求金額 ¥12,984（税込）",
        "1円未満を切り捨て",
    ]
    from tests.helpers import BROWSER_UA

    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        _verify(client, j)
        page = client.get(f"/l/{j.token}/invoice")
        assert page.status_code == 200 and 'lang="ja"' in page.text
        for item in required:
            assert item in page.text, item
        pdf = client.get(f"/l/{j.token}/invoice.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = _pdf_text(pdf.content)
        for item in required:
            assert item in text, item

        # Paid: a receipt (領収書) dated the payment day.
        recipient = session.get(Recipient, j.recipient_id)
        recipient.status, recipient.paid_at = "paid", datetime(2026, 12, 1, 3, 0)  # 12:00 JST
        session.add(recipient)
        session.commit()
        text = _pdf_text(client.get(f"/l/{j.token}/invoice.pdf").content)
        for item in (
            "領収書",
            "領収日: 2026-12-01",
            "領収金額 ¥12,984（税込）",
            "登録番号: T7010705000725",
            "※は軽減税率",
        ):
            assert item in text, item
        assert "領収書" in client.get(f"/l/{j.token}/invoice").text


def test_the_reduced_rate_note_only_with_a_reduced_item():
    from smspay_app.services.invoices import InvoiceDoc, render_html

    doc = InvoiceDoc(
        False, "発行者", "", "1", "2026-12-01", "山田", "請求", invoice.totals([Line("会費", 1, 1100, 10)])
    )
    assert "※" not in render_html(doc, "ja")
    doc8 = InvoiceDoc(
        False, "発行者", "", "1", "2026-12-01", "山田", "請求", invoice.totals([Line("弁当", 1, 1080, 8)])
    )
    assert "※は軽減税率" in render_html(doc8, "ja")


def test_message_and_done_pages_link_the_invoice_only_after_verification(live_server, session):
    from datetime import datetime

    from smspay_app.models import Recipient
    from smspay_app.web import recipient as recipient_web
    from tests.factories import make_journey
    from tests.helpers import BROWSER_UA

    recipient_web.post_limiter.reset()
    j = make_journey(session, amount_yen=12_340)
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        landing = client.get(f"/l/{j.token}")
        assert "/invoice" not in landing.text  # the identity check first
        _verify(client, j)
        page = client.get(f"/l/{j.token}").text
        assert f'href="/l/{j.token}/invoice"' in page and f'href="/l/{j.token}/invoice.pdf"' in page
        assert "請求書を表示" in page
        recipient = session.get(Recipient, j.recipient_id)
        recipient.status, recipient.paid_at = "paid", datetime(2026, 12, 1, 3, 0)
        session.add(recipient)
        session.commit()
        done = client.get(f"/l/{j.token}/done").text
        assert "領収書を表示" in done and f'href="/l/{j.token}/invoice.pdf"' in done
        assert client.get(f"/l/{j.token}/invoice").status_code == 200
