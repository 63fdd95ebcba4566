"""Qualified invoices and receipts (適格請求書 / 領収書) of one recipient: the
items the Japanese invoice system requires, as a printable page and a PDF.

Required items (consumption tax act, art. 57-4): the issuer's name and
registration number, the transaction date, what was sold (with the rates),
the tax-included total per rate with the rate, and the consumption tax per
rate; plus the recipient's name. The tax arithmetic is ``domain.invoice``
(one cut-off rounding per rate per invoice).

The document is an invoice (請求書) until the recipient has paid, then a
receipt (領収書) dated the payment day. Lines are the campaign's invoice
lines when they add up to the recipient's amount; otherwise (a per-recipient
amount from the CSV) one line of the page title at the standard rate.

PDF: ReportLab with its built-in Japanese CID font (HeiseiKakuGo-W5, Adobe-
Japan1): no font file to ship or install, the viewer supplies the glyphs, and
the text stays extractable (tests read it back)."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from smspay_app.domain import invoice as tax
from smspay_app.domain.clock import utcnow
from smspay_app.domain.formatting import local_time, yen
from smspay_app.i18n import t
from smspay_app.models import Campaign, InvoiceLine, Organisation, Recipient

PDF_FONT = "HeiseiKakuGo-W5"


@dataclass(frozen=True)
class InvoiceDoc:
    receipt: bool  # paid: a receipt (領収書); else an invoice (請求書)
    issuer: str
    registration_number: str  # "" when the organisation is not registered
    number: str  # the document number, stable per recipient
    issued_on: str  # YYYY-MM-DD in the organisation's time zone
    recipient_name: str
    title: str
    totals: tax.InvoiceTotals


def due_date(recipient: Recipient, campaign: Campaign) -> date | None:
    """By when the recipient is asked to pay: their own due date (CSV, API),
    else the campaign's; None for neither (the page, the voucher and its SMS
    say what this says)."""
    return recipient.due_date or campaign.due_date


def document_number(campaign: Campaign, recipient: Recipient) -> str:
    return f"{campaign.id:05d}-{recipient.id:07d}"


def build(session: Session, recipient: Recipient) -> InvoiceDoc:
    campaign = session.get(Campaign, recipient.campaign_id)
    org = session.get(Organisation, recipient.organisation_id)
    lines = [
        tax.Line(line.item, line.quantity, line.unit_price_yen, line.tax_rate)
        for line in session.exec(
            select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id).order_by(InvoiceLine.position)
        )
    ]
    if not lines or sum(line.amount_yen for line in lines) != recipient.amount_yen:
        lines = [tax.Line(campaign.page_title or campaign.name, 1, recipient.amount_yen, tax.STANDARD_RATE)]
    paid = recipient.status == "paid" and recipient.paid_at is not None
    issued = recipient.paid_at if paid else utcnow()
    return InvoiceDoc(
        receipt=paid,
        issuer=org.name,
        registration_number=org.invoice_registration_number,
        number=document_number(campaign, recipient),
        issued_on=local_time(issued, org.timezone)[:10],
        recipient_name=recipient.name,
        title=campaign.page_title or campaign.name,
        totals=tax.totals(lines),
    )


def _texts(doc: InvoiceDoc, lang: str) -> dict[str, str]:
    kind = "receipt" if doc.receipt else "invoice"
    return {
        "heading": t(f"invoice.{kind}", lang),
        "to": t("invoice.to", lang, name=doc.recipient_name),
        "issuer": t("invoice.issuer", lang, name=doc.issuer),
        "number_reg": t(
            "invoice.registration", lang, number=doc.registration_number or t("invoice.unregistered", lang)
        ),
        "number": t("invoice.number", lang, number=doc.number),
        "date": t(f"invoice.date.{kind}", lang, date=doc.issued_on),
        "total": t(f"invoice.total.{kind}", lang, amount=yen(doc.totals.total_yen)),
        "rounding": t("invoice.rounding", lang),
        # The ※ note only when a reduced-rate item is there to explain.
        "reduced_note": t("invoice.reduced_note", lang)
        if any(r.rate == tax.REDUCED_RATE for r in doc.totals.per_rate)
        else "",
    }


def rate_label(rate: int, lang: str) -> str:
    return t("invoice.rate.reduced" if rate == tax.REDUCED_RATE else "invoice.rate.standard", lang, rate=rate)


def lines_rows(doc: InvoiceDoc, lang: str) -> list[tuple[str, str, str, str, str]]:
    """(item, quantity, unit price, amount, rate) per line; reduced-rate items marked ※."""
    return [
        (
            line.item + (" ※" if line.tax_rate == tax.REDUCED_RATE else ""),
            str(line.quantity),
            yen(line.unit_price_yen),
            yen(line.amount_yen),
            f"{line.tax_rate}%",
        )
        for line in doc.totals.lines
    ]


def rate_rows(doc: InvoiceDoc, lang: str) -> list[str]:
    """Per rate: the tax-included total and the consumption tax in it."""
    return [
        t("invoice.per_rate", lang, rate=rate_label(r.rate, lang), total=yen(r.total_yen), tax=yen(r.tax_yen))
        for r in doc.totals.per_rate
    ]


def render_html(doc: InvoiceDoc, lang: str, *, pdf_href: str = "") -> str:
    """A printable page (A4, print styles; no script)."""
    x = _texts(doc, lang)
    e = html.escape
    head = "".join(f"<th>{e(t(f'invoice.col.{c}', lang))}</th>" for c in ("item", "qty", "unit", "amount", "rate"))
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in lines_rows(doc, lang))
    rates = "".join(f"<li>{e(r)}</li>" for r in rate_rows(doc, lang))
    download = (
        f'<p class="noprint"><a href="{e(pdf_href)}" id="invoice-pdf">{e(t("invoice.pdf", lang))}</a></p>'
        if pdf_href
        else ""
    )
    return f"""<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(x["heading"])} {e(doc.number)}</title>
<style>body{{font-family:"Noto Sans CJK JP","Hiragino Sans",sans-serif;max-width:720px;margin:24px auto;padding:0 16px;color:#111}}
h1{{font-size:22px;letter-spacing:.2em;text-align:center}}table{{width:100%;border-collapse:collapse;margin:12px 0}}
th,td{{border:1px solid #999;padding:6px;text-align:left}}td:nth-child(n+2){{text-align:right}}.total{{font-size:20px;font-weight:bold}}
@page{{size:A4;margin:16mm}}@media print{{.noprint{{display:none}}}}</style></head><body>
<h1 id="invoice-heading">{e(x["heading"])}</h1>
<p id="invoice-to">{e(x["to"])}</p>
<p class="total" id="invoice-total">{e(x["total"])}</p>
<p>{e(x["number"])}<br>{e(x["date"])}</p>
<p id="invoice-issuer">{e(x["issuer"])}<br>{e(x["number_reg"])}</p>
<table id="invoice-lines"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<ul id="invoice-rates">{rates}</ul>
<p><small>{e(x["reduced_note"]) + "<br>" if x["reduced_note"] else ""}{e(x["rounding"])}</small></p>
{download}</body></html>"""


def render_pdf(doc: InvoiceDoc, lang: str) -> bytes:
    """The same document as an A4 PDF (ReportLab, CID font: see module doc)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    x = _texts(doc, lang)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=0)
    pdf.setTitle(f"{x['heading']} {doc.number}")
    pdf.setAuthor(doc.issuer)
    width, height = A4
    left, y = 20 * mm, height - 25 * mm
    pdf.setFont(PDF_FONT, 18)
    pdf.drawCentredString(width / 2, y, x["heading"])
    y -= 14 * mm

    def line(text: str, size: int = 10, gap: float = 6.5) -> None:
        nonlocal y
        pdf.setFont(PDF_FONT, size)
        pdf.drawString(left, y, text)
        y -= gap * mm

    line(x["to"], 12, 9)
    line(x["total"], 14, 9)
    line(x["number"])
    line(x["date"])
    line(x["issuer"])
    line(x["number_reg"], gap=10)
    cols = [left, left + 80 * mm, left + 100 * mm, left + 125 * mm, left + 152 * mm]
    pdf.setFont(PDF_FONT, 9)
    for col, name in zip(cols, ("item", "qty", "unit", "amount", "rate")):
        pdf.drawString(col, y, t(f"invoice.col.{name}", lang))
    y -= 6 * mm
    for row in lines_rows(doc, lang):
        for col, value in zip(cols, row):
            pdf.drawString(col, y, value)
        y -= 6 * mm
    y -= 4 * mm
    for text in rate_rows(doc, lang):
        line(text)
    if x["reduced_note"]:
        line(x["reduced_note"], 8, 5)
    line(x["rounding"], 8, 5)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def issued_date(doc: InvoiceDoc) -> date:
    return date.fromisoformat(doc.issued_on)
