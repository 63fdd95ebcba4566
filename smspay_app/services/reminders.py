"""Reminders: per-campaign rules relative to the due date or the first send,
with their own SMS template and a maximum count per recipient.

Rules live in ``Campaign.reminder_rules`` as JSON ``{"rules": [{"anchor":
"due_date"|"first_send", "days": int, "at": "HH:MM"}], "max": int}`` (a bare
list of rules is read too, with ``max`` = the number of rules) and the text in
``Campaign.reminder_template`` (empty: the campaign's own SMS text).

- ``due_date``: the recipient's due date (or the campaign's) plus ``days``
  (negative = before), at ``at`` local time in the organisation's time zone.
- ``first_send``: the recipient's first ``sent`` time plus ``days`` (>= 1).

``queue_due(now)`` queues one ``reminder`` send attempt per
(recipient, rule) whose moment has come (and is less than ``GRACE`` old: a
worker that was down does not send stale "3 days before" texts after the due
date), only to recipients who were sent the first SMS and have not paid, have
no pending (processing) payment, have not opted out and are not cancelled,
locked or failed, and only while they have had fewer than ``max`` reminders.
The attempt's idempotency key is per (recipient, rule), unique in the
database, so several workers running at once queue each reminder once. Quiet
hours: the attempt waits for the window's end (and the dispatcher holds it
too); the dispatcher renders it with the reminder template and cancels it if
the person paid or opted out meanwhile. Timeline: ``reminder_queued``, then
``reminder_sent`` when the provider takes it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, literal, select
from sqlmodel import Session
from sqlmodel import select as select_models

from smspay_app.domain import quiet_hours
from smspay_app.domain.campaigns import FOLLOW_UPS_SENT
from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import FieldError, Invalid
from smspay_app.models import Campaign, OptOut, Organisation, Payment, Recipient, SendAttempt
from smspay_app.services import timeline
from smspay_app.services.auth import Caller

log = logging.getLogger("smspay.reminders")

ANCHORS = ("due_date", "first_send")
MAX_RULES = 5
MAX_COUNT = 10
DAYS_RANGE = (-60, 120)
DEFAULT_AT = "10:00"
GRACE = timedelta(hours=24)
# Campaigns whose reminders are queued (not paused, closed or cancelled).
ACTIVE_CAMPAIGNS = tuple(str(s) for s in FOLLOW_UPS_SENT)
EXCLUDED_STATUS = ("paid", "opted_out", "cancelled", "locked", "failed")
BATCH = 500


@dataclass(frozen=True)
class Rule:
    anchor: str
    days: int
    at: str = DEFAULT_AT

    @property
    def key(self) -> str:
        """Stable name of the rule (part of each reminder's idempotency key)."""
        if self.anchor == "due_date":
            return f"due{self.days:+d}@{self.at}"
        return f"send{self.days:+d}"

    def as_dict(self) -> dict:
        return {"anchor": self.anchor, "days": self.days, "at": self.at}


@dataclass(frozen=True)
class Plan:
    rules: tuple[Rule, ...]
    max_count: int

    def to_json(self) -> str:
        return json.dumps({"rules": [r.as_dict() for r in self.rules], "max": self.max_count})


class RulesInvalid(Invalid):
    """The form's problems, one ``FieldError`` per field."""


def plan_of(campaign: Campaign) -> Plan:
    """The campaign's stored rules (an unreadable value reads as no rules)."""
    try:
        raw = json.loads(campaign.reminder_rules or "[]")
    except ValueError:
        return Plan((), 0)
    items = raw.get("rules", []) if isinstance(raw, dict) else raw
    rules = []
    for item in items if isinstance(items, list) else []:
        try:
            rules.append(Rule(str(item["anchor"]), int(item["days"]), str(item.get("at") or DEFAULT_AT)))
        except (KeyError, TypeError, ValueError):
            continue
    max_count = raw.get("max", len(rules)) if isinstance(raw, dict) else len(rules)
    try:
        max_count = int(max_count)
    except (TypeError, ValueError):
        max_count = len(rules)
    return Plan(tuple(rules), max_count)


def validate(
    rules: list[dict], max_count: object, template: str, campaign: Campaign, organisation: Organisation
) -> tuple[Plan | None, list[FieldError]]:
    """Check raw form input; returns the plan and the errors (i18n keys)."""
    from smspay_app.domain.sms_text import TemplateError, check_template

    errors: list[FieldError] = []
    parsed: list[Rule] = []
    if len(rules) > MAX_RULES:
        errors.append(FieldError("rules", "dash.rem.error.too_many"))
    for i, raw in enumerate(rules):
        anchor = str(raw.get("anchor", ""))
        if anchor not in ANCHORS:
            errors.append(FieldError(f"rules.{i}", "dash.rem.error.anchor"))
            continue
        try:
            days = int(str(raw.get("days", "")).strip().translate(_FULLWIDTH))
        except ValueError:
            errors.append(FieldError(f"rules.{i}", "dash.rem.error.days"))
            continue
        if not DAYS_RANGE[0] <= days <= DAYS_RANGE[1]:
            errors.append(FieldError(f"rules.{i}", "dash.rem.error.days"))
            continue
        if anchor == "first_send" and days < 1:
            errors.append(FieldError(f"rules.{i}", "dash.rem.error.after_send"))
            continue
        at = str(raw.get("at") or DEFAULT_AT).strip().translate(_FULLWIDTH)
        try:
            parsed_at = quiet_hours.parse_hhmm(at)
            if parsed_at is None:
                raise ValueError(at)
            at = parsed_at.strftime("%H:%M")
        except ValueError:
            errors.append(FieldError(f"rules.{i}", "dash.rem.error.time"))
            continue
        if anchor == "due_date" and campaign.due_date is None:
            # Recipients may carry their own due dates; without one the rule
            # simply never fires for them. Warn only when the campaign has none.
            pass
        parsed.append(Rule(anchor, days, at))
    if len({r.key for r in parsed}) != len(parsed):
        errors.append(FieldError("rules", "dash.rem.error.duplicate"))
    try:
        count = int(str(max_count).strip().translate(_FULLWIDTH))
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_COUNT:
        errors.append(FieldError("max", "dash.rem.error.max"))
    template = (template or "").strip()
    if template:
        from smspay_app.services import sms_message

        try:
            check_template(template)
        except TemplateError:
            errors.append(FieldError("template", "dash.rem.error.template"))
        else:
            try:
                if sms_message.sample_over_cap(organisation, template):
                    errors.append(FieldError("template", "dash.rem.error.template_long"))
            except TemplateError:
                errors.append(FieldError("template", "dash.rem.error.template"))
    if errors:
        return None, errors
    return Plan(tuple(parsed), count), []


_FULLWIDTH = str.maketrans("０１２３４５６７８９－：", "0123456789-:")


def save_rules(
    session: Session, caller: Caller, campaign_id: int, rules: list[dict], max_count: object, template: str
) -> Campaign:
    """Store validated rules and template on the caller's campaign; raises
    ``RulesInvalid`` (nothing saved) or ``LookupError`` (not the caller's)."""
    caller.require("campaign.edit")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organisation_id != caller.organisation_id:
        raise LookupError(campaign_id)
    organisation = session.get(Organisation, campaign.organisation_id)
    plan, errors = validate(rules, max_count, template, campaign, organisation)
    from smspay_app.services import campaigns as campaigns_service

    columns = [q.column for q in campaigns_service.questions_of(session, campaign.id)]
    named = campaigns_service.answer_field_named(template or "", columns)
    if named is not None:  # an identity answer is never merged into an SMS (issue 18, item 12)
        errors.append(FieldError("template", "campaign.error.template_answer_field", {"field": named}))
    if errors:
        raise RulesInvalid(errors)
    campaign.reminder_rules = plan.to_json()
    campaign.reminder_template = (template or "").strip()
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    return campaign


# ------------------------------------------------------------------ timing


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001
        return ZoneInfo("UTC")


def due_moment(rule: Rule, due: date, tz: str) -> datetime:
    """Naive UTC moment of a due-date rule for a recipient due on ``due``."""
    local = datetime.combine(due + timedelta(days=rule.days), quiet_hours.parse_hhmm(rule.at), tzinfo=_zone(tz))
    return local.astimezone(UTC).replace(tzinfo=None)


def _due_window(rule: Rule, now: datetime, tz: str) -> tuple[date, date]:
    """The due dates whose reminder moment lies in (now - GRACE, now]."""
    zone = _zone(tz)
    at = quiet_hours.parse_hhmm(rule.at)

    def local(t: datetime) -> datetime:
        return t.replace(tzinfo=UTC).astimezone(zone)

    n = local(now)
    last = n.date() if n.time().replace(tzinfo=None) >= at else n.date() - timedelta(days=1)
    g = local(now - GRACE)
    first = g.date() + timedelta(days=1) if g.time().replace(tzinfo=None) >= at else g.date()
    return first - timedelta(days=rule.days), last - timedelta(days=rule.days)


# ------------------------------------------------------------------ queueing


def _key_prefix(campaign_id: int) -> str:
    return f"reminder:{campaign_id}:"


def idempotency_key(campaign_id: int, recipient_id: int, rule: Rule) -> str:
    return f"{_key_prefix(campaign_id)}{recipient_id}:{rule.key}"


def _candidates(session: Session, campaign: Campaign, plan: Plan, rule: Rule, now: datetime, tz: str, after_id: int):
    r = Recipient
    a = SendAttempt
    key_expr = literal(_key_prefix(campaign.id)) + cast(r.id, String) + literal(f":{rule.key}")
    conditions = [
        r.campaign_id == campaign.id,
        r.id > after_id,
        r.sent_at.is_not(None),
        r.paid_at.is_(None),
        r.opted_out_at.is_(None),
        r.erased_at.is_(None),
        r.status.not_in(EXCLUDED_STATUS),
        ~exists().where(OptOut.organisation_id == campaign.organisation_id, OptOut.phone_e164 == r.phone_e164),
        ~exists().where(Payment.recipient_id == r.id, Payment.status == "processing"),
        ~exists().where(a.recipient_id == r.id, a.idempotency_key == key_expr),
        select(func.count()).where(a.recipient_id == r.id, a.kind == "reminder").scalar_subquery() < plan.max_count,
    ]
    if rule.anchor == "due_date":
        first, last = _due_window(rule, now, tz)
        due = func.coalesce(r.due_date, campaign.due_date) if campaign.due_date else r.due_date
        conditions.append(and_(due.is_not(None), due >= first, due <= last))
    else:
        conditions.append(
            and_(r.sent_at <= now - timedelta(days=rule.days), r.sent_at > now - timedelta(days=rule.days) - GRACE)
        )
    return list(session.exec(select_models(r).where(*conditions).order_by(r.id).limit(BATCH)))


def _insert_attempt(
    session: Session, campaign: Campaign, recipient: Recipient, key: str, not_before: datetime, now: datetime
) -> bool:
    table = SendAttempt.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    from smspay_app.services.sending import attempt_row

    row = attempt_row(
        campaign.organisation_id,
        campaign.id,
        recipient.id,
        "reminder",
        now,
        idempotency_key=key,
        try_number=1,
        not_before=not_before,
        provider="",
        error_code="",
        error_message="",
        segments=0,
        held_for_quiet_hours=not_before > now,
    )
    stmt = (
        insert(table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
        # The inserted id, none on conflict. Not ``rowcount``: on PostgreSQL
        # SQLAlchemy adds RETURNING for the key itself and rowcount reads -1.
        .returning(table.c.id)
    )
    return session.execute(stmt).first() is not None


def queue_due(session: Session, now: datetime | None = None) -> int:
    """Queue every reminder whose moment has come; returns how many were
    queued. Safe to run concurrently (unique idempotency key per reminder)."""
    now = now or utcnow()
    queued = 0
    campaigns = session.exec(
        select_models(Campaign).where(Campaign.status.in_(ACTIVE_CAMPAIGNS), Campaign.reminder_rules.not_in(("", "[]")))
    ).all()
    for campaign in campaigns:
        plan = plan_of(campaign)
        if not plan.rules or plan.max_count <= 0:
            continue
        org = session.get(Organisation, campaign.organisation_id)
        tz = org.timezone if org else "UTC"
        start, end = quiet_hours.effective_window(org, campaign)
        not_before = quiet_hours.quiet_until(now, tz, start, end) or now
        for rule in plan.rules:
            after = 0
            while True:
                batch = _candidates(session, campaign, plan, rule, now, tz, after)
                if not batch:
                    break
                for recipient in batch:
                    key = idempotency_key(campaign.id, recipient.id, rule)
                    if _insert_attempt(session, campaign, recipient, key, not_before, now):
                        timeline.record(
                            session,
                            recipient,
                            "reminder_queued",
                            at=now,
                            detail={"rule": rule.key, "not_before": not_before},
                        )
                        queued += 1
                after = batch[-1].id
                session.flush()
    return queued


def still_wanted(session: Session, recipient: Recipient) -> bool:
    """At send time (the dispatcher): a reminder goes only to a recipient who
    has not paid, has no pending payment, and is not opted out or locked."""
    if recipient.paid_at is not None or recipient.status in EXCLUDED_STATUS:
        return False
    pending = session.exec(
        select(Payment.id).where(Payment.recipient_id == recipient.id, Payment.status == "processing").limit(1)
    ).first()
    return pending is None
