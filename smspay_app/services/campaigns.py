"""Campaigns: create and edit (drafts), read scoped to the caller's
organisation, and the funnel figures from SQL aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.models import Campaign, CampaignQuestion, Organisation, Recipient
from smspay_app.services.auth import Caller

MAX_QUESTIONS = 4
QUESTION_KINDS = ("date", "digits", "text", "secret")
MIN_LIFETIME_HOURS, MAX_LIFETIME_HOURS = 1, 90 * 24
EDITABLE_STATES = ("draft",)


@dataclass
class QuestionInput:
    label: str
    column: str
    kind: str = "text"


@dataclass
class CampaignInput:
    name: str
    sms_template: str
    page_title: str = ""
    page_message: str = ""
    payment_enabled: bool = True
    amount_yen: int = 0
    due_date: date | None = None
    link_lifetime_hours: int = 72
    questions: list[QuestionInput] = field(default_factory=list)


@dataclass(frozen=True)
class FieldError:
    field: str
    key: str  # i18n key


class CampaignInvalid(ValueError):
    def __init__(self, errors: list[FieldError]):
        super().__init__(", ".join(f"{e.field}: {e.key}" for e in errors))
        self.errors = errors


def validate(data: CampaignInput, organisation: Organisation) -> list[FieldError]:
    from smspay_app.domain.sms_text import analyze_sms, ensure_link_placeholder, render_sms

    errors: list[FieldError] = []
    if not data.name.strip():
        errors.append(FieldError("name", "campaign.error.name_required"))
    if not data.sms_template.strip():
        errors.append(FieldError("sms_template", "campaign.error.template_required"))
    else:
        # Worst case with a full-length link (the real length of our links).
        from smspay_app.services.links import link_url

        sample = render_sms(
            ensure_link_placeholder(data.sms_template),
            _placeholder_fields(data.sms_template),
            link_url("X" * 22),
            sender_prefix=sender_prefix(organisation),
        )
        if analyze_sms(sample, organisation.carrier_char_cap).over_cap:
            errors.append(FieldError("sms_template", "campaign.error.template_too_long"))
    if data.payment_enabled and data.amount_yen <= 0:
        errors.append(FieldError("amount_yen", "campaign.error.amount_required"))
    if data.amount_yen < 0 or data.amount_yen > 10_000_000:
        errors.append(FieldError("amount_yen", "campaign.error.amount_range"))
    if not MIN_LIFETIME_HOURS <= data.link_lifetime_hours <= MAX_LIFETIME_HOURS:
        errors.append(FieldError("link_lifetime_hours", "campaign.error.lifetime_range"))
    if len(data.questions) > MAX_QUESTIONS:
        errors.append(FieldError("questions", "campaign.error.too_many_questions"))
    for i, q in enumerate(data.questions):
        if not q.label.strip() or not q.column.strip():
            errors.append(FieldError(f"questions.{i}", "campaign.error.question_incomplete"))
        if q.kind not in QUESTION_KINDS:
            errors.append(FieldError(f"questions.{i}", "campaign.error.question_kind"))
    return errors


def _placeholder_fields(template: str) -> dict[str, str]:
    from smspay_app.domain.sms_text import template_fields

    # Worst case for size: assume each merge value is 20 wide characters.
    return {name: "あ" * 20 for name in template_fields(template)}


def sender_prefix(organisation: Organisation) -> str:
    name = organisation.sender_name or organisation.name
    return f"【{name}】" if name else ""


def create_campaign(session: Session, caller: Caller, data: CampaignInput) -> Campaign:
    caller.require("campaign.edit")
    organisation = session.get(Organisation, caller.organisation_id)
    errors = validate(data, organisation)
    if errors:
        raise CampaignInvalid(errors)
    campaign = Campaign(
        organisation_id=caller.organisation_id,
        name=data.name.strip(),
        sms_template=data.sms_template.strip(),
        page_title=data.page_title.strip() or data.name.strip(),
        page_message=data.page_message.strip(),
        payment_enabled=data.payment_enabled,
        amount_yen=data.amount_yen,
        due_date=data.due_date,
        link_lifetime_hours=data.link_lifetime_hours,
        created_by_user_id=caller.user_id,
    )
    session.add(campaign)
    session.flush()
    for position, q in enumerate(data.questions):
        session.add(
            CampaignQuestion(
                campaign_id=campaign.id, position=position, label=q.label.strip(), column=q.column.strip(), kind=q.kind
            )
        )
    session.commit()
    return campaign


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
            select(CampaignQuestion).where(CampaignQuestion.campaign_id == campaign_id).order_by(CampaignQuestion.position)
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
