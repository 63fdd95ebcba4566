"""Campaigns: create and edit (drafts), read scoped to the caller's
organisation, and the funnel figures from SQL aggregates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, delete, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import FieldError, Invalid, Refused
from smspay_app.domain.invoice import TAX_RATES
from smspay_app.domain.links import MAX_LIFETIME_HOURS, MIN_LIFETIME_HOURS
from smspay_app.domain.page_text import PAGE_MESSAGE_MAX_CHARS
from smspay_app.domain.quiet_hours import parse_hhmm
from smspay_app.models import AuditLog, Campaign, CampaignQuestion, InvoiceLine, Organisation, Recipient
from smspay_app.services import connections, sms_message
from smspay_app.services.auth import Caller

MAX_QUESTIONS = 4
QUESTION_KINDS = ("date", "digits", "text", "secret")
VERIFICATION_MODES = ("questions", "otp")
EDITABLE_STATES = ("draft",)
MAX_INVOICE_LINES = 20
MAX_AMOUNT_YEN = 10_000_000
RECIPIENT_LANGUAGES = ("ja", "en")


@dataclass
class QuestionInput:
    label: str
    column: str
    kind: str = "text"


@dataclass
class InvoiceLineInput:
    item: str
    quantity: int = 1
    unit_price_yen: int = 0  # tax included
    tax_rate: int = 10  # percent: 10, or 8 (reduced rate: food, newspapers)


@dataclass
class CampaignInput:
    """Everything the editor sets. ``amount_yen`` is the default amount (a CSV
    column can set it per recipient); with invoice lines and no amount, the
    lines' total is used. ``scheduled_at`` is naive UTC (None: send when the
    operator presses send). Quiet hours ``None``: the organisation's."""

    name: str
    sms_template: str
    page_title: str = ""
    page_message: str = ""
    payment_enabled: bool = True
    amount_yen: int = 0
    due_date: date | None = None
    link_lifetime_hours: int = 72
    questions: list[QuestionInput] = field(default_factory=list)
    invoice_lines: list[InvoiceLineInput] = field(default_factory=list)
    ask_read_confirmation: bool = False
    verification_mode: str = "questions"
    scheduled_at: datetime | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    # The recipients' language (default texts, SMS, pages): not the UI's.
    recipient_language: str = "ja"
    # The campaign's configured end (naive UTC): closed then; None: by the operator.
    closes_at: datetime | None = None
    # The connections it goes through (None: the organisation's defaults);
    # only admins change them (services.connections.pick_errors).
    sms_connection_id: int | None = None
    payment_connection_id: int | None = None

    def picks(self) -> dict[str, int | None]:
        return {"sms_connection_id": self.sms_connection_id, "payment_connection_id": self.payment_connection_id}

    def effective_amount(self) -> int:
        if self.amount_yen or not self.invoice_lines:
            return self.amount_yen
        return invoice_total(self.invoice_lines)


def invoice_total(lines) -> int:
    return sum(max(0, line.quantity) * max(0, line.unit_price_yen) for line in lines)


class CampaignInvalid(Invalid):
    """The form's problems, one ``FieldError`` per field."""


def validate(data: CampaignInput, organisation: Organisation) -> list[FieldError]:
    """Every problem with ``data`` as (field, i18n key); empty when it can be saved."""
    from smspay_app.domain.sms_text import TemplateError, check_template

    errors: list[FieldError] = []
    if not data.name.strip():
        errors.append(FieldError("name", "campaign.error.name_required"))
    if not MIN_LIFETIME_HOURS <= data.link_lifetime_hours <= MAX_LIFETIME_HOURS:
        errors.append(FieldError("link_lifetime_hours", "campaign.error.lifetime_range"))
    if data.scheduled_at is not None and data.scheduled_at <= utcnow():
        errors.append(FieldError("scheduled_at", "campaign.error.schedule_past"))
    if any(line.tax_rate not in TAX_RATES for line in data.invoice_lines):
        errors.append(FieldError("invoice_lines", "campaign.error.tax_rate"))
    if data.recipient_language not in RECIPIENT_LANGUAGES:
        errors.append(FieldError("recipient_language", "campaign.error.recipient_language"))
    if (data.quiet_hours_start or data.quiet_hours_end) and not (
        _valid_hhmm(data.quiet_hours_start) and _valid_hhmm(data.quiet_hours_end)
    ):
        errors.append(FieldError("quiet_hours", "campaign.error.quiet_hours"))
    if not data.sms_template.strip():
        errors.append(FieldError("sms_template", "campaign.error.template_required"))
    else:
        try:
            check_template(data.sms_template)
        except TemplateError as exc:
            errors.append(FieldError("sms_template", exc.code))
        else:
            # Worst case before any recipient exists: every merge value 20 wide
            # characters, a link as long as a real one.
            if sms_message.sample_over_cap(organisation, data.sms_template):
                errors.append(FieldError("sms_template", "campaign.error.template_too_long"))
    if len(data.page_message.strip()) > PAGE_MESSAGE_MAX_CHARS:
        errors.append(
            FieldError("page_message", "campaign.error.page_message_too_long", {"max": PAGE_MESSAGE_MAX_CHARS})
        )
    answer_columns = [q.column for q in data.questions]
    for field_name, text in (("sms_template", data.sms_template), ("page_message", data.page_message)):
        named = answer_field_named(text, answer_columns)
        if named is not None:
            errors.append(FieldError(field_name, "campaign.error.template_answer_field", {"field": named}))
    amount = data.effective_amount()
    # no campaign amount is fine: the CSV or the API may give each recipient's
    # (the send check refuses recipients left without one: amount_problems)
    if amount < 0 or amount > MAX_AMOUNT_YEN:
        errors.append(FieldError("amount_yen", "campaign.error.amount_range"))
    if len(data.invoice_lines) > MAX_INVOICE_LINES:
        errors.append(FieldError("invoice_lines", "campaign.error.too_many_lines"))
    for i, line in enumerate(data.invoice_lines):
        if (
            not line.item.strip()
            or line.quantity < 1
            or line.unit_price_yen < 0
            or line.unit_price_yen > MAX_AMOUNT_YEN
        ):
            errors.append(FieldError(f"invoice_lines.{i}", "campaign.error.line_invalid"))
    if data.verification_mode not in VERIFICATION_MODES:
        errors.append(FieldError("verification_mode", "campaign.error.verification_mode"))
    if data.verification_mode == "otp" and data.questions:
        errors.append(FieldError("questions", "campaign.error.otp_no_questions"))
    if len(data.questions) > MAX_QUESTIONS:
        errors.append(FieldError("questions", "campaign.error.too_many_questions"))
    for i, q in enumerate(data.questions):
        if not q.label.strip() or not q.column.strip():
            errors.append(FieldError(f"questions.{i}", "campaign.error.question_incomplete"))
        if q.kind not in QUESTION_KINDS:
            errors.append(FieldError(f"questions.{i}", "campaign.error.question_kind"))
    return errors


def answer_field_named(template: str, answer_columns: list[str]) -> str | None:
    """The first merge field of ``template`` that names an identity answer
    column (by its name, or as the same canonical field: ``{{birth_date}}``
    for a ``生年月日`` column), or None. Answers are kept only as keyed
    hashes and never merged into an SMS or a page (issue 18, item 12: the
    attack run's SMS read "生年月日1966-06-06" next to the link)."""
    from smspay_app.domain.csv_import import suggest_mapping
    from smspay_app.domain.sms_text import template_fields

    def canonical(name: str) -> str | None:
        return next(iter(suggest_mapping([name])), None)

    columns = {c.strip() for c in answer_columns if c.strip()}
    canonicals = {canonical(c) for c in columns} - {None}
    for name in template_fields(template or ""):
        if name in columns or canonical(name) in canonicals:
            return name
    return None


def _valid_hhmm(value: str | None) -> bool:
    if not value or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        return False
    try:
        parse_hhmm(value)
    except ValueError:
        return False
    return True


def create_campaign(session: Session, caller: Caller, data: CampaignInput) -> Campaign:
    caller.require("campaign.edit")
    organisation = session.get(Organisation, caller.organisation_id)
    errors = validate(data, organisation) + connections.pick_errors(session, caller, None, data.picks())
    if errors:
        raise CampaignInvalid(errors)
    campaign = Campaign(organisation_id=caller.organisation_id, created_by_user_id=caller.user_id)
    _apply(campaign, data)
    session.add(campaign)
    session.flush()
    connections.apply_picks(session, caller, campaign, data.picks())
    _replace_children(session, campaign, data, keep_questions=False)
    _audit(session, caller, "campaign.create", campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, caller: Caller, campaign_id: int, data: CampaignInput) -> Campaign:
    """Save the editor over a draft of the caller's organisation. Once
    recipients are imported (their answers are hashed per question), the
    questions' columns and types are fixed; their labels may still change."""
    caller.require("campaign.edit")
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise CampaignInvalid([FieldError("campaign", "admin.error.not_found")])
    if campaign.status not in EDITABLE_STATES:
        raise CampaignInvalid([FieldError("campaign", "campaign.error.not_editable")])
    organisation = session.get(Organisation, caller.organisation_id)
    errors = validate(data, organisation)
    existing = questions_of(session, campaign.id)
    has_recipients = recipient_count(session, campaign.id) > 0
    if has_recipients and [(q.column, q.kind) for q in existing] != [
        (q.column.strip(), q.kind) for q in data.questions
    ]:
        errors.append(FieldError("questions", "campaign.error.questions_locked"))
    if has_recipients and data.verification_mode != campaign.verification_mode:
        errors.append(FieldError("verification_mode", "campaign.error.questions_locked"))
    errors += connections.pick_errors(session, caller, campaign, data.picks())
    if errors:
        raise CampaignInvalid(errors)
    _apply(campaign, data)
    connections.apply_picks(session, caller, campaign, data.picks())
    campaign.updated_at = utcnow()
    session.add(campaign)
    _replace_children(session, campaign, data, keep_questions=has_recipients, existing=existing)
    _audit(session, caller, "campaign.update", campaign)
    session.flush()
    return campaign


def _apply(campaign: Campaign, data: CampaignInput) -> None:
    campaign.name = data.name.strip()
    campaign.sms_template = data.sms_template.strip()
    campaign.page_title = data.page_title.strip() or data.name.strip()
    campaign.page_message = data.page_message.strip()
    campaign.payment_enabled = data.payment_enabled
    campaign.amount_yen = data.effective_amount() if data.payment_enabled else 0
    campaign.due_date = data.due_date
    campaign.ask_read_confirmation = data.ask_read_confirmation and not data.payment_enabled
    campaign.verification_mode = data.verification_mode
    campaign.link_lifetime_hours = data.link_lifetime_hours
    campaign.scheduled_at = data.scheduled_at
    campaign.closes_at = data.closes_at
    override = bool(data.quiet_hours_start and data.quiet_hours_end)
    campaign.quiet_hours_start = data.quiet_hours_start.strip() if override else None
    campaign.quiet_hours_end = data.quiet_hours_end.strip() if override else None
    campaign.recipient_language = data.recipient_language


def _replace_children(
    session: Session,
    campaign: Campaign,
    data: CampaignInput,
    *,
    keep_questions: bool,
    existing: list[CampaignQuestion] | None = None,
) -> None:
    if keep_questions:
        for q, new in zip(existing or [], data.questions):
            q.label = new.label.strip()
            session.add(q)
    else:
        session.exec(delete(CampaignQuestion).where(CampaignQuestion.campaign_id == campaign.id))
        for position, q in enumerate(data.questions if data.verification_mode == "questions" else []):
            session.add(
                CampaignQuestion(
                    campaign_id=campaign.id,
                    position=position,
                    label=q.label.strip(),
                    column=q.column.strip(),
                    kind=q.kind,
                )
            )
    session.exec(delete(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id))
    for position, line in enumerate(data.invoice_lines if data.payment_enabled else []):
        session.add(
            InvoiceLine(
                campaign_id=campaign.id,
                position=position,
                item=line.item.strip(),
                quantity=line.quantity,
                unit_price_yen=line.unit_price_yen,
                tax_rate=line.tax_rate,
            )
        )


def _audit(session: Session, caller: Caller, action: str, campaign: Campaign, **detail) -> None:
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action=action,
            target_type="campaign",
            target_id=campaign.id,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )


def campaign_input(session: Session, campaign: Campaign) -> CampaignInput:
    """The saved campaign as editor input (the inverse of ``_apply``)."""
    lines = list(
        session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id).order_by(InvoiceLine.position))
    )
    return CampaignInput(
        name=campaign.name,
        sms_template=campaign.sms_template,
        page_title=campaign.page_title,
        page_message=campaign.page_message,
        payment_enabled=campaign.payment_enabled,
        amount_yen=campaign.amount_yen,
        due_date=campaign.due_date,
        link_lifetime_hours=campaign.link_lifetime_hours,
        questions=[QuestionInput(q.label, q.column, q.kind) for q in questions_of(session, campaign.id)],
        invoice_lines=[InvoiceLineInput(l.item, l.quantity, l.unit_price_yen, l.tax_rate) for l in lines],
        ask_read_confirmation=campaign.ask_read_confirmation,
        verification_mode=campaign.verification_mode,
        scheduled_at=campaign.scheduled_at,
        quiet_hours_start=campaign.quiet_hours_start,
        quiet_hours_end=campaign.quiet_hours_end,
        recipient_language=campaign.recipient_language,
        closes_at=campaign.closes_at,
        sms_connection_id=campaign.sms_connection_id,
        payment_connection_id=campaign.payment_connection_id,
    )


def recipient_count(session: Session, campaign_id: int) -> int:
    return session.exec(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id)).one()


def get_campaign(session: Session, caller: Caller, campaign_id: int) -> Campaign | None:
    """The campaign if it belongs to the caller's organisation, else None."""
    caller.require("campaign.view")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organisation_id != caller.organisation_id:
        return None
    return campaign


def questions_of(session: Session, campaign_id: int) -> list[CampaignQuestion]:
    return list(
        session.exec(
            select(CampaignQuestion)
            .where(CampaignQuestion.campaign_id == campaign_id)
            .order_by(CampaignQuestion.position)
        )
    )


def funnel_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """The campaign's funnel figures (recipients, sent ... paid, failed,
    paid_yen, total_yen) from its maintained counter row (``services.stats``)."""
    from smspay_app.services import stats

    return stats.counts_for(session, [campaign_id])[campaign_id]


def list_campaigns(session: Session, caller: Caller) -> list[tuple[Campaign, dict[str, int]]]:
    """The organisation's campaigns, newest first, each with its funnel counts
    (one read of the counter rows for all of them)."""
    from smspay_app.services import stats

    caller.require("campaign.view")
    campaigns = list(
        session.exec(
            select(Campaign).where(Campaign.organisation_id == caller.organisation_id).order_by(Campaign.id.desc())
        )
    )
    if not campaigns:
        return []
    counts = stats.counts_for(session, [c.id for c in campaigns])
    return [(c, counts[c.id]) for c in campaigns]


def recipients_page(
    session: Session, caller: Caller, campaign_id: int, *, offset: int = 0, limit: int = 50
) -> list[Recipient]:
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        return []
    return list(
        session.exec(
            select(Recipient)
            .where(Recipient.campaign_id == campaign_id)
            .order_by(Recipient.id)
            .offset(offset)
            .limit(min(limit, 200))
        )
    )


def touch(session: Session, campaign: Campaign) -> None:
    campaign.updated_at = utcnow()
    session.add(campaign)


# ----------------------------------------------------------------- sending


@dataclass(frozen=True)
class Problem:
    """Why a campaign cannot be sent: an i18n key and its format fields."""

    key: str
    params: dict = field(default_factory=dict)


@dataclass
class SendCheck:
    """``starts_at``: when sending would start (the schedule, or now; naive
    UTC); ``waits_until``: the end of the quiet hours it falls in (None: it
    starts then), ``waiting``: how many SMS would wait for it."""

    recipients: int
    estimate: object  # domain.sms_text.TemplateEstimate over the recipients
    problems: list[Problem]
    starts_at: datetime | None = None
    waits_until: datetime | None = None
    waiting: int = 0
    cost_yen: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class SendBlocked(Refused, ValueError):
    """The send check found problems (each a ``Problem``); the first is the key."""

    def __init__(self, problems: list[Problem]):
        first = problems[0] if problems else None
        super().__init__(first.key if first else "send_blocked", **(first.params if first else {}))
        self.problems = problems
        self.args = (", ".join(p.key for p in problems),)


SENDABLE_STATES = ("draft", "paused")


def send_check(session: Session, caller: Caller, campaign: Campaign) -> SendCheck:
    """Validation before send, over every recipient: the worst-case SMS with a
    real-length link (over the carrier cap blocks), rows whose merge fields
    do not fill (unknown field / missing value block), no recipients, no
    identity check, a state that cannot send."""
    caller.require("campaign.view")
    if campaign.organisation_id != caller.organisation_id:
        raise PermissionError("other organisation")
    problems: list[Problem] = []
    if campaign.status not in SENDABLE_STATES:
        problems.append(Problem("sending.error.bad_status", {"status": campaign.status}))
    count = recipient_count(session, campaign.id)
    if count == 0:
        problems.append(Problem("sending.error.no_recipients"))
    estimate = sms_message.estimate_campaign_sms(session, campaign)
    grouped: dict[tuple[str, str], int] = {}
    for err in estimate.errors:
        key = (err["code"], err.get("field") or "")
        grouped[key] = grouped.get(key, 0) + 1
    for (code, field_name), n in grouped.items():
        problems.append(Problem("campaign.send.rows_" + code.split(".")[-1], {"field": field_name, "count": n}))
    org = session.get(Organisation, campaign.organisation_id)
    if estimate.worst is not None and estimate.worst.over_cap:
        problems.append(Problem("campaign.send.over_cap", {"chars": estimate.worst.chars, "cap": org.carrier_char_cap}))
    if campaign.verification_mode == "questions" and not questions_of(session, campaign.id):
        problems.append(Problem("campaign.send.no_identity_check"))
    if campaign.payment_enabled:
        problems.extend(amount_problems(session, campaign))
    from smspay_app.services import sending

    now = utcnow()
    starts_at = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > now else now
    waits_until = sending.quiet_wait(session, campaign, starts_at)
    return SendCheck(
        recipients=count,
        estimate=estimate,
        problems=problems,
        starts_at=starts_at,
        waits_until=waits_until,
        waiting=count if waits_until is not None else 0,
        cost_yen=int(getattr(estimate, "cost_yen", 0) or 0),
    )


def amount_problems(session: Session, campaign: Campaign, *, shown: int = 5) -> list[Problem]:
    """One amount everywhere: every recipient of a payment campaign needs an
    amount (the campaign's, or their own from the CSV or the API), and
    campaign invoice lines are shown to every recipient without lines of
    their own, so their amount must be the lines' total. Each problem names
    the first ``shown`` recipients and how many there are."""
    from smspay_app.domain.formatting import yen

    problems: list[Problem] = []
    open_states = ("cancelled", "opted_out")
    unpriced = list(
        session.exec(
            select(Recipient)
            .where(
                Recipient.campaign_id == campaign.id,
                Recipient.amount_yen <= 0,
                Recipient.status.not_in(open_states),
            )
            .order_by(Recipient.row_number, Recipient.id)
        )
    )
    if unpriced:
        problems.append(
            Problem("campaign.send.no_amount", {"count": len(unpriced), "recipients": _names(unpriced, shown)})
        )
    lines = list(session.exec(select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id)))
    if not lines:
        return problems
    total = invoice_total(lines)
    off = list(
        session.exec(
            select(Recipient)
            .where(
                Recipient.campaign_id == campaign.id,
                Recipient.amount_yen != total,
                Recipient.status.not_in(("cancelled", "opted_out")),
                Recipient.invoice_lines_json == "",  # own lines add up to their amount (import)
            )
            .order_by(Recipient.row_number, Recipient.id)
        )
    )
    off = [r for r in off if r.amount_yen > 0]  # those without an amount are named above
    if off:
        problems.append(
            Problem(
                "campaign.send.lines_mismatch",
                {"count": len(off), "total": yen(total), "recipients": _names(off, shown)},
            )
        )
    return problems


def _names(recipients: list[Recipient], shown: int) -> str:
    """The first ``shown`` recipients as the operator knows them (their
    reference, name or row) with their amount; ``+N`` for the rest."""
    from smspay_app.domain.formatting import yen

    names = ", ".join(
        f"{r.external_ref or r.name or '#' + str(r.row_number or r.id)} ({yen(r.amount_yen)})"
        for r in recipients[:shown]
    )
    more = len(recipients) - shown
    return names + (f" +{more}" if more > 0 else "")


def send_campaign(
    session: Session,
    caller: Caller,
    campaign_id: int,
    *,
    scheduled_at: datetime | None = None,
    send_now_reason: str | None = None,
) -> int:
    """Check, then queue the campaign (now, or at ``scheduled_at``, naive UTC).
    Inside quiet hours the SMS wait for the window's end, unless
    ``send_now_reason`` is given (not None): the operator's "send now anyway",
    audited with that reason (refused when blank). Returns the number of SMS queued; raises
    ``SendBlocked`` with the reasons."""
    from smspay_app.services import actions

    caller.require("campaign.send")
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise SendBlocked([Problem("admin.error.not_found")])
    if scheduled_at is not None and scheduled_at <= utcnow():
        raise SendBlocked([Problem("campaign.error.schedule_past")])
    check = send_check(session, caller, campaign)
    if not check.ok:
        raise SendBlocked(check.problems)
    if scheduled_at is not None:
        campaign.scheduled_at = scheduled_at
    elif campaign.scheduled_at is not None and campaign.scheduled_at <= utcnow():
        campaign.scheduled_at = None
    override = send_now_reason is not None
    try:
        return actions.queue_send(
            session,
            caller,
            campaign,
            None,
            send_now_reason if send_now_reason is not None else actions.CONSOLE_REASON,
            ignore_quiet_hours=override,
        )
    except actions.ActionRefused as exc:
        raise SendBlocked([Problem(exc.key, dict(exc.fields))]) from exc


def send_held_now(session: Session, caller: Caller, campaign_id: int, reason: str) -> int:
    """ "Send now anyway" for a campaign already sending: its SMS held for
    quiet hours leave at once. The operator gives a reason; audited
    ``campaign.send_now``. Returns how many were released."""
    from smspay_app.services import actions, sending

    caller.require("campaign.send")
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise SendBlocked([Problem("admin.error.not_found")])
    try:
        reason = actions.clean_reason(reason)
    except actions.ActionRefused as exc:
        raise SendBlocked([Problem(exc.key, dict(exc.fields))]) from exc
    released = sending.release_held(session, campaign)
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="campaign.send_now",
            target_type="campaign",
            target_id=campaign.id,
            reason=reason,
            detail=json.dumps({"released": released}),
        )
    )
    session.flush()
    return released


def set_end(session: Session, caller: Caller, campaign_id: int, closes_at: datetime | None) -> Campaign:
    """Configure when the caller's campaign closes (naive UTC; None: only by
    the operator), audited; the dispatcher's housekeeping closes it then.
    Raises ``SendBlocked`` with the reason."""
    from smspay_app.domain import campaigns as campaign_machine

    caller.require("campaign.send")
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise SendBlocked([Problem("admin.error.not_found")])
    try:
        campaign_machine.set_end(campaign, closes_at, now=utcnow())
    except campaign_machine.CampaignRefused as exc:
        raise SendBlocked([Problem(exc.key, dict(exc.fields))]) from exc
    session.add(campaign)
    _audit(session, caller, "campaign.closes_at", campaign, closes_at=closes_at)
    session.flush()
    return campaign


def change_sending(session: Session, caller: Caller, campaign_id: int, action: str) -> int:
    """``pause`` / ``resume`` / ``cancel`` / ``close`` the caller's campaign
    (audited). Returns the number of queued SMS cancelled (0 for pause/resume); raises
    ``SendBlocked`` with the reason when the state does not allow it."""
    from smspay_app.services import sending

    caller.require("campaign.send")
    campaign = get_campaign(session, caller, campaign_id)
    if campaign is None:
        raise SendBlocked([Problem("admin.error.not_found")])
    operations = {"pause": sending.pause, "resume": sending.resume, "cancel": sending.cancel, "close": sending.close}
    if action not in operations:
        raise SendBlocked([Problem("admin.error.not_allowed")])
    try:
        result = operations[action](session, campaign)
    except sending.SendingError as exc:
        raise SendBlocked([Problem(exc.key, dict(exc.fields))]) from exc
    _audit(session, caller, f"campaign.{action}", campaign)
    session.flush()
    return int(result or 0)
