"""The voucher on the recipient's own page (plain HTML, no JavaScript): what
to pay where and by when, from the gateway's ``next_action`` stored on the
payment (``Payment.voucher_json``, ``Payment.expires_at``).

- konbini (``konbini_display_details``): each store with its confirmation
  number and payment code, the deadline in the organisation's time zone, and
  a link to the gateway's hosted voucher;
- bank transfer (``display_bank_transfer_instructions``, ``jp_bank_transfer``):
  bank name, branch, account type and number, account holder, amount, and a
  the invoice's due date as the deadline (Stripe gives none) and a link to
  the gateway's instructions;
- Pay-easy (``pay_easy_display_details``, KOMOJU): 収納機関番号, お客様番号,
  確認番号 and the gateway's instructions."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from smspay_app.domain.formatting import yen
from smspay_app.i18n import t
from smspay_app.models import Payment
from smspay_app.services.payments import voucher, voucher_deadline

STORE_KEYS = ("familymart", "lawson", "ministop", "seicomart", "seveneleven", "dailyyamazaki")


def _row(label: str, value: str) -> str:
    return f"<tr><th scope=row>{label}</th><td class=num>{escape(value)}</td></tr>"


def _named(name: object, code: object) -> str:
    """``三井住友銀行 (0009)``; the name alone when the gateway gives no code (KOMOJU)."""
    return f"{name or ''} ({code})" if code else str(name or "")


def voucher_card(payment: Payment | None, timezone: str, lang: str, due_date: date | None = None) -> str:
    """The voucher's HTML (inside a card), or '' when the payment has none;
    the deadline is ``payments.voucher_deadline`` (the invoice's due date when
    the gateway gives none, as for a bank transfer)."""
    action = voucher(payment)
    if payment is None or action is None:
        return ""
    deadline = voucher_deadline(payment, lang, timezone, due_date)
    parts: list[str] = []
    link_url = ""
    if action.get("type") == "konbini_display_details":
        details: dict[str, Any] = action.get("konbini_display_details") or {}
        stores: dict[str, Any] = details.get("stores") or {}
        parts.append(f"<h2 style='font-size:1.1rem'>{t('recipient.voucher_konbini_title', lang)}</h2>")
        parts.append(f"<p>{t('recipient.voucher_konbini_intro', lang)}</p>")
        # one store after the other (store, then its two numbers): readable on a 240 px screen
        rows = "".join(
            f"<tr><th colspan=2 scope=rowgroup>{t(f'recipient.store_{key}', lang)}</th></tr>"
            f"<tr><td>{t('recipient.col_confirmation', lang)}</td>"
            f"<td class=num>{escape(str(stores[key].get('confirmation_number', '')))}</td></tr>"
            f"<tr><td>{t('recipient.col_payment_code', lang)}</td>"
            f"<td class=num>{escape(str(stores[key].get('payment_code', '')))}</td></tr>"
            for key in STORE_KEYS
            if isinstance(stores.get(key), dict)
        )
        parts.append(f"<table class=voucher>{rows}</table>")
        link_url = str(details.get("hosted_voucher_url") or "")
    elif action.get("type") == "display_bank_transfer_instructions":
        instr: dict[str, Any] = action.get("display_bank_transfer_instructions") or {}
        addresses = instr.get("financial_addresses") or [{}]
        zengin: dict[str, Any] = (addresses[0] or {}).get("zengin") or {}
        account_type = str(zengin.get("account_type", ""))
        parts.append(f"<h2 style='font-size:1.1rem'>{t('recipient.voucher_bank_title', lang)}</h2>")
        parts.append(f"<p>{t('recipient.voucher_bank_intro', lang)}</p>")
        parts.append(
            "<table class=voucher>"
            + _row(t("recipient.bank_name", lang), _named(zengin.get("bank_name"), zengin.get("bank_code")))
            + _row(t("recipient.bank_branch", lang), _named(zengin.get("branch_name"), zengin.get("branch_code")))
            + _row(
                t("recipient.bank_account", lang),
                f"{t('recipient.account_' + account_type, lang) if account_type in ('futsu', 'toza') else account_type}"
                f" {zengin.get('account_number', '')}",
            )
            + _row(t("recipient.bank_holder", lang), str(zengin.get("account_holder_name", "")))
            + _row(t("recipient.bank_amount", lang), yen(int(instr.get("amount_remaining") or payment.amount_yen)))
            + "</table>"
        )
        link_url = str(instr.get("hosted_instructions_url") or "")
    elif action.get("type") == "pay_easy_display_details":  # KOMOJU's Pay-easy
        pe: dict[str, Any] = action.get("pay_easy_display_details") or {}
        parts.append(f"<h2 style='font-size:1.1rem'>{t('recipient.voucher_payeasy_title', lang)}</h2>")
        parts.append(f"<p>{t('recipient.voucher_payeasy_intro', lang)}</p>")
        parts.append(
            "<table class=voucher>"
            + _row(t("recipient.payeasy_bank_id", lang), str(pe.get("bank_id", "")))
            + _row(t("recipient.payeasy_customer_id", lang), str(pe.get("customer_id", "")))
            + _row(t("recipient.payeasy_confirmation_id", lang), str(pe.get("confirmation_id", "")))
            + "</table>"
        )
        link_url = str(pe.get("instructions_url") or "")
    else:
        return ""
    if deadline:
        parts.append(f"<p class=deadline>{t('recipient.voucher_deadline', lang, date=deadline)}</p>")
    parts.append(f"<p>{t('recipient.voucher_amount', lang, amount=yen(payment.amount_yen))}</p>")
    if link_url.startswith(("https://", "http://")):
        parts.append(
            f'<p><a class="btn alt" href="{escape(link_url)}" rel="noreferrer">{t("recipient.voucher_link", lang)}</a></p>'
        )
    return "".join(parts)
