"""REST API use cases, composed from the same services the admin UI uses
(campaigns, imports, sending, actions): create a campaign from a template campaign,
add recipients with the CSV import's validation, send one payment request,
read and page recipients, reissue, cancel. Every function takes a ``Caller``
(an ``ApiCaller`` from the API key) and scopes by its organisation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlmodel import Session, select

from smspay_app.domain import campaigns as campaign_machine
from smspay_app.domain.sms_text import LINK_FIELD, template_fields
from smspay_app.models import Campaign, InvoiceLine, Recipient
from smspay_app.services import actions, campaigns, imports, recipients, sending
from smspay_app.services.auth import Caller

MAX_ITEMS = 1000
# API item field -> the CSV import's canonical column.
CANONICAL = {
    "phone": "phone",
    "name": "name",
    "amount_yen": "amount",
    "due_date": "due_date",
    "customer_number": "customer_number",
    "reference": "reference",
    "lines": "lines",
}
COLUMN_TO_FIELD = {v: k for k, v in CANONICAL.items()}


# Per-item refusals caused by state that can change (an opt-out lifted, a
# duplicate removed): a request refused for them is not replayed.
STATE_DEPENDENT_ERRORS = frozenset({"import.opted_out", "import.duplicate_in_campaign"})


class NotFound(LookupError):
    pass


@dataclass
class ItemResult:
    index: int
    recipient_id: int | None
    errors: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ campaigns


def create_campaign(
    session: Session,
    caller: Caller,
    data: campaigns.CampaignInput,
    *,
    template_campaign_id: int | None = None,
    given: set[str] | None = None,
) -> Campaign:
    """``data`` fields not in ``given`` come from the template campaign (its
    SMS text, page, payment settings, questions and invoice lines)."""
    caller.require("campaign.edit")
    template = None
    if template_campaign_id is not None:
        template = campaigns.get_campaign(session, caller, template_campaign_id)
        if template is None:
            raise NotFound("template")
        given = given or set()
        copied = {
            name: getattr(template, name)
            for name in (
                "sms_template",
                "page_title",
                "page_message",
                "payment_enabled",
                "amount_yen",
                "due_date",
                "link_lifetime_hours",
            )
            if name not in given
        }
        if "questions" not in given:
            copied["questions"] = [
                campaigns.QuestionInput(q.label, q.column, q.kind) for q in campaigns.questions_of(session, template.id)
            ]
        data = replace(data, **copied)
    campaign = campaigns.create_campaign(session, caller, data)
    if template is not None:
        for name in (
            "verification_mode",
            "max_wrong_answers",
            "ask_read_confirmation",
            "quiet_hours_start",
            "quiet_hours_end",
            "reminder_rules",
            "reminder_template",
            "recipient_language",
        ):
            if name not in given:
                setattr(campaign, name, getattr(template, name))
        session.add(campaign)
        lines = session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == template.id)).all()
        for line in [] if "invoice_lines" in given else lines:
            session.add(
                InvoiceLine(
                    campaign_id=campaign.id,
                    position=line.position,
                    item=line.item,
                    quantity=line.quantity,
                    unit_price_yen=line.unit_price_yen,
                    tax_rate=line.tax_rate,
                )
            )
        session.flush()
    return campaign


def own_campaign(session: Session, caller: Caller, campaign_id: int) -> Campaign:
    campaign = campaigns.get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise NotFound("campaign")
    return campaign


# ------------------------------------------------------------------ recipients


def add_recipients(
    session: Session,
    caller: Caller,
    campaign_id: int,
    items: list[dict[str, Any]],
    *,
    send: bool = False,
    lang: str = "ja",
) -> list[ItemResult]:
    """Add ``items`` (``phone``, ``name``, ``amount_yen``, ``due_date``,
    ``reference``, ``fields``: merge fields and identity answers by column) with
    the CSV import's validation, duplicate and opt-out rules; per-item errors.
    ``send`` queues the new recipients at once."""
    caller.require("campaign.send")
    campaign = own_campaign(session, caller, campaign_id)
    campaign_machine.check_open(campaign)  # closed or cancelled: refused
    # Columns every row has: the canonical ones, each question's column and each
    # merge field of the SMS (absent values become per-item errors, not a
    # refusal of the whole batch), then any other field given.
    extra: list[str] = []
    for q in campaigns.questions_of(session, campaign.id):
        extra.append(q.column)
    extra += [f for f in template_fields(campaign.sms_template or "") if f != LINK_FIELD]
    for item in items:
        extra += list((item.get("fields") or {}).keys())
    headers = list(CANONICAL.values())
    for name in extra:
        if name not in headers and name not in CANONICAL:
            headers.append(name)
    rows = []
    for item in items:
        fields = {str(k): "" if v is None else str(v) for k, v in (item.get("fields") or {}).items()}
        values = {
            "phone": str(item.get("phone") or ""),
            "name": str(item.get("name") or ""),
            "amount": "" if item.get("amount_yen") is None else str(item["amount_yen"]),
            "due_date": str(item.get("due_date") or ""),
            "customer_number": str(item.get("customer_number") or ""),
            "reference": str(item.get("reference") or ""),
            "lines": json.dumps(item["lines"], ensure_ascii=False) if item.get("lines") else "",
        }
        rows.append([values[h] if h in values else fields.get(h, "") for h in headers])
    report, created = imports.import_recipient_rows(
        session, campaign, headers, rows, source="api", user_id=caller.user_id, lang=lang
    )
    results = [ItemResult(i, created.get(i + 1)) for i in range(len(items))]
    for err in imports.report_errors(report):
        row = int(err.get("row") or 0)
        column = str(err.get("column") or "")
        entry = {
            "field": COLUMN_TO_FIELD.get(column, f"fields.{column}" if column else ""),
            "code": err.get("reason_key", ""),
            "message": err.get("reason", ""),
        }
        if row == 0:  # the batch as a whole
            for r in results:
                r.errors.append(entry)
        elif 1 <= row <= len(results):
            results[row - 1].errors.append(entry)
    new_ids = [r.recipient_id for r in results if r.recipient_id is not None]
    if send and new_ids:
        actions.queue_send(session, caller, campaign, new_ids, actions.API_REASON)
    return results


def get_recipient(session: Session, caller: Caller, recipient_id: int) -> Recipient:
    caller.require("campaign.view")
    recipient = session.get(Recipient, recipient_id)
    if recipient is None or recipient.organisation_id != caller.organisation_id:
        raise NotFound("recipient")
    return recipient


def list_recipients(
    session: Session, caller: Caller, campaign_id: int, *, after: int = 0, limit: int = 50, status: str | None = None
) -> list[Recipient]:
    """Keyset pages in id order: pass the last id seen as ``after``."""
    campaign = own_campaign(session, caller, campaign_id)
    stmt = select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.id > after)
    if status:
        stmt = stmt.where(*recipients.shown_state_conditions(status))  # the shown state, as in the console
    return list(session.exec(stmt.order_by(Recipient.id).limit(max(1, min(limit, 200)))))


def reissue(session: Session, caller: Caller, recipient_id: int) -> Recipient:
    """The support action ``actions.reissue_link`` with the staff rules
    (campaign state, pending attempts, opt-outs); refusals raise ``ActionRefused``."""
    recipient = get_recipient(session, caller, recipient_id)
    actions.reissue_link(session, caller, recipient.id, actions.API_REASON)
    return recipient


def cancel_recipient(session: Session, caller: Caller, recipient_id: int) -> Recipient:
    """Stop one payment request (an order was cancelled): ``actions.cancel_recipient``
    (queued SMS cancelled, the live link dies, the recipient is ``cancelled``).
    Idempotent for a recipient already cancelled; paid or opted-out ones refuse."""
    recipient = get_recipient(session, caller, recipient_id)
    if recipient.status == "cancelled":
        return recipient
    actions.cancel_recipient(session, caller, recipient.id, actions.API_REASON)
    return recipient


def change_campaign(session: Session, caller: Caller, campaign_id: int, action: str) -> Campaign:
    """``pause`` / ``resume`` / ``cancel`` / ``close`` the caller's campaign: the
    console's ``campaigns.change_sending`` (same rules, same audit row).
    Raises ``NotFound`` or ``SendingError``."""
    campaign = own_campaign(session, caller, campaign_id)
    try:
        campaigns.change_sending(session, caller, campaign.id, action)
    except campaigns.SendBlocked as exc:
        problem = exc.problems[0]
        raise sending.SendingError(problem.key, **dict(problem.params)) from None
    return campaign


def send_unsent(session: Session, caller: Caller, campaign_id: int) -> tuple[Campaign, int]:
    """Queue the SMS of every recipient of the campaign still ``created`` (added
    with ``"send": false``): a draft campaign starts sending, an active one
    sends again, a paused one keeps them until resumed; closed or cancelled
    refuse (``SendingError``). ``actions.queue_send``: the console's path, one
    audit row. Returns the campaign and how many were queued."""
    campaign = own_campaign(session, caller, campaign_id)
    if campaign.status == "draft":
        queued = actions.queue_send(session, caller, campaign, None, actions.API_REASON)
    else:
        ids = list(
            session.exec(
                select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.status == "created")
            )
        )
        campaign_machine.check_open(campaign)
        queued = actions.queue_send(session, caller, campaign, ids, actions.API_REASON) if ids else 0
    return campaign, queued


def cancel_campaign(session: Session, caller: Caller, campaign_id: int) -> Campaign:
    return change_campaign(session, caller, campaign_id, "cancel")
