"""Qualified invoices and receipts (services.invoices): the printable page and the PDF."""

MESSAGES = {
    "invoice.invoice": {"ja": "請求書", "en": "Invoice"},
    "invoice.receipt": {"ja": "領収書", "en": "Receipt"},
    "invoice.to": {"ja": "{name} 様", "en": "To: {name}"},
    "invoice.issuer": {"ja": "発行者: {name}", "en": "Issuer: {name}"},
    "invoice.registration": {"ja": "登録番号: {number}", "en": "Registration number: {number}"},
    "invoice.unregistered": {"ja": "（未登録）", "en": "(not registered)"},
    "invoice.number": {"ja": "番号: {number}", "en": "Number: {number}"},
    "invoice.date.invoice": {"ja": "発行日: {date}", "en": "Issued on: {date}"},
    "invoice.date.receipt": {"ja": "領収日: {date}", "en": "Paid on: {date}"},
    "invoice.total.invoice": {"ja": "ご請求金額 {amount}（税込）", "en": "Amount due {amount} (tax included)"},
    "invoice.total.receipt": {
        "ja": "領収金額 {amount}（税込） 上記正に領収いたしました",
        "en": "Received {amount} (tax included) with thanks",
    },
    "invoice.col.item": {"ja": "品目", "en": "Item"},
    "invoice.col.qty": {"ja": "数量", "en": "Qty"},
    "invoice.col.unit": {"ja": "単価（税込）", "en": "Unit price (tax incl.)"},
    "invoice.col.amount": {"ja": "金額（税込）", "en": "Amount (tax incl.)"},
    "invoice.col.rate": {"ja": "税率", "en": "Tax rate"},
    "invoice.rate.standard": {"ja": "{rate}%対象", "en": "{rate}% items"},
    "invoice.rate.reduced": {"ja": "{rate}%対象（軽減税率）", "en": "{rate}% items (reduced rate)"},
    "invoice.per_rate": {
        "ja": "{rate} 合計 {total}（うち消費税 {tax}）",
        "en": "{rate}: total {total} (consumption tax {tax})",
    },
    "invoice.reduced_note": {"ja": "※は軽減税率（8%）対象品目です。", "en": "※ reduced-rate (8%) item."},
    "invoice.rounding": {
        "ja": "消費税額は税率ごとに合計した金額から計算し、1円未満を切り捨てています。",
        "en": "Consumption tax is computed per rate on the total of that rate, fractions of a yen cut off.",
    },
    "recipient.show_invoice": {"ja": "請求書を表示（印刷用）", "en": "Show the invoice (printable)"},
    "recipient.show_receipt": {"ja": "領収書を表示（印刷用）", "en": "Show the receipt (printable)"},
    "invoice.pdf": {"ja": "PDFをダウンロード", "en": "Download PDF"},
    "settings.error.invoice_number": {
        "ja": "登録番号は「T」と13桁の数字です（例: T1234567890123）。番号をご確認ください。",
        "en": "A registration number is T followed by 13 digits (e.g. T1234567890123); please check it.",
    },
    "settings.invoice_registration_number": {
        "ja": "適格請求書発行事業者の登録番号",
        "en": "Qualified-invoice registration number",
    },
    "settings.invoice_registration_number.help": {
        "ja": "「T」と13桁の数字。請求書・領収書に記載します。未登録なら空欄のままにしてください。",
        "en": "T followed by 13 digits, printed on invoices and receipts. Leave empty if not registered.",
    },
}
