"""Test data for the recipient journey: an organisation, a campaign with
questions and invoice lines, a recipient with hashed expected answers and a
live link (raw token returned, as it would appear in the SMS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from smspay_app.domain.answers import hash_answer, normalize_answer
from smspay_app.models import (
    Campaign,
    CampaignQuestion,
    IdentityAnswer,
    InvoiceLine,
    Link,
    Organisation,
    Recipient,
    TimelineEvent,
)
from smspay_app.services.links import issue_link
from smspay_app.settings import get_settings

BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@dataclass
class Journey:
    organisation_id: int
    campaign_id: int
    recipient_id: int
    link_id: int
    token: str
    question_ids: list[int]


def make_journey(
    session: Session,
    *,
    answers: dict[str, tuple[str, str]] | None = None,
    amount_yen: int = 12_340,
    payment_enabled: bool = True,
    verification_mode: str = "questions",
    max_wrong_answers: int = 5,
    ask_read_confirmation: bool = False,
    lifetime_hours: int = 72,
    phone: str = "+819012345678",
) -> Journey:
    """``answers`` maps a question label to (kind, expected raw answer)."""
    if answers is None:
        answers = {"生年月日": ("date", "1980-01-02"), "お客様番号": ("digits", "123456")}
    org = Organisation(name="テスト電力株式会社", sender_name="テスト電力", support_phone="03-1234-5678")
    session.add(org)
    session.flush()
    campaign = Campaign(
        organisation_id=org.id,
        name="4月分ご請求",
        status="sending",
        page_title="4月分のご請求",
        page_message="{{name}}様\n4月分のご利用料金をお知らせします。",
        payment_enabled=payment_enabled,
        amount_yen=amount_yen,
        due_date=date(2030, 4, 30),
        verification_mode=verification_mode,
        max_wrong_answers=max_wrong_answers,
        ask_read_confirmation=ask_read_confirmation,
    )
    session.add(campaign)
    session.flush()
    session.add(InvoiceLine(campaign_id=campaign.id, position=0, item="基本料金", quantity=1, unit_price_yen=10_000))
    session.add(InvoiceLine(campaign_id=campaign.id, position=1, item="従量料金", quantity=2, unit_price_yen=1_170))
    recipient = Recipient(
        campaign_id=campaign.id,
        organisation_id=org.id,
        phone_e164=phone,
        name="山田太郎",
        merge_data=json.dumps({"name": "山田太郎"}),
        amount_yen=amount_yen,
        status="delivered",
    )
    session.add(recipient)
    session.flush()
    question_ids = []
    for i, (label, (kind, raw)) in enumerate(answers.items()):
        q = CampaignQuestion(campaign_id=campaign.id, position=i, label=label, column=f"c{i}", kind=kind)
        session.add(q)
        session.flush()
        question_ids.append(q.id)
        normalized = normalize_answer(raw, kind)
        session.add(
            IdentityAnswer(
                recipient_id=recipient.id,
                question_id=q.id,
                answer_hash=hash_answer(get_settings().secret_key, recipient.id, q.id, normalized),
            )
        )
    link, token = issue_link(session, recipient, lifetime_hours)
    session.commit()
    return Journey(org.id, campaign.id, recipient.id, link.id, token, question_ids)


def reload(session: Session, model, ident):
    session.expire_all()
    return session.get(model, ident)


def events(session: Session, recipient_id: int) -> list[TimelineEvent]:
    session.expire_all()
    return list(
        session.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == recipient_id).order_by(TimelineEvent.id))
    )


def kinds(session: Session, recipient_id: int) -> list[str]:
    return [e.kind for e in events(session, recipient_id)]


def link_of(session: Session, j: Journey) -> Link:
    return reload(session, Link, j.link_id)
