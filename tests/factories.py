"""Test data, made once here for every test module: organisations, campaigns
and recipients made directly with the models; staff users, callers and API
keys made through the real services; a recipient journey (campaign with
questions and invoice lines, hashed expected answers, a live link).

Defaults are safe at any hour: organisations have quiet hours OFF unless a
test sets them (``make_org(session, quiet_hours_start="21:00",
quiet_hours_end="08:00")``), so nothing waits for the morning because the
suite happens to run at night."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from smspay_app.domain.answers import hash_answer, normalize_answer
from smspay_app.models import (
    Campaign,
    CampaignQuestion,
    IdentityAnswer,
    InvoiceLine,
    Organisation,
    Recipient,
    User,
)
from smspay_app.services import api_keys, auth
from smspay_app.services.auth import Caller
from smspay_app.services.links import issue_link
from smspay_app.settings import get_settings

PASSWORD = "correct horse battery"
"""Every staff user's password in the tests."""

# ------------------------------------------------------------------ organisations, campaigns, recipients


def make_org(session: Session, name: str = "テスト商事", **fields) -> Organisation:
    """An organisation; quiet hours off unless given (tests run at any hour)."""
    fields.setdefault("quiet_hours_start", "00:00")
    fields.setdefault("quiet_hours_end", "00:00")
    org = Organisation(name=name, sender_name=fields.pop("sender_name", name), **fields)
    session.add(org)
    session.commit()
    return org


def phone(i: int) -> str:
    """A distinct Japanese mobile number in E.164."""
    return f"+8190{10000000 + i:08d}"


def make_campaign(
    session: Session,
    org: Organisation,
    recipients: int = 3,
    *,
    template: str = "{{name}}様 ご請求のお知らせです {{link}}",
    first_phone: int = 0,
    **fields,
) -> Campaign:
    campaign = Campaign(organisation_id=org.id, name=fields.pop("name", "請求"), sms_template=template, **fields)
    session.add(campaign)
    session.commit()
    add_recipients(session, campaign, recipients, first_phone=first_phone)
    return campaign


def add_recipients(session: Session, campaign: Campaign, n: int, *, first_phone: int = 0) -> list[Recipient]:
    rows = []
    for i in range(n):
        r = Recipient(
            campaign_id=campaign.id,
            organisation_id=campaign.organisation_id,
            phone_e164=phone(first_phone + i),
            name=f"顧客{first_phone + i}",
            merge_data=json.dumps({"name": f"顧客{first_phone + i}"}, ensure_ascii=False),
            row_number=i + 1,
        )
        session.add(r)
        rows.append(r)
    session.commit()
    return rows


# ------------------------------------------------------------------ staff users and API keys


def make_user(
    session: Session, org: Organisation, role: str = "operator", email: str | None = None, *, display_name: str = ""
) -> User:
    """A staff user (password ``PASSWORD``), made through the real service."""
    user = auth.create_user(
        session, org, email or f"{role}-{org.id}@example.com", PASSWORD, role=role, display_name=display_name
    )
    session.commit()
    return user


def signed_in(
    session: Session, org: Organisation, role: str = "operator", email: str | None = None
) -> tuple[str, Caller]:
    """A new user signed in through the real sign-in: (session token, caller)."""
    user = make_user(session, org, role, email)
    result = auth.sign_in(session, user.email, PASSWORD)
    assert result is not None
    session.commit()  # the service flushes; handlers read the session on their own connection
    return result


def make_caller(session: Session, org: Organisation, role: str = "operator", email: str | None = None) -> Caller:
    """A new user named "<role> <org id>" as the caller the services see (not
    signed in: ``sign_in_token`` signs in when a test needs a session)."""
    user = make_user(session, org, role, email, display_name=f"{role} {org.id}")
    return Caller(
        user_id=user.id,
        organisation_id=org.id,
        role=role,
        email=user.email,
        display_name=user.display_name,
        language="ja",
        organisation_name=org.name,
    )


def sign_in_token(session: Session, email: str) -> str:
    """Sign a user made here in; the session token (for the cookie)."""
    result = auth.sign_in(session, email, PASSWORD)
    session.commit()  # the service flushes; handlers read the session on their own connection
    assert result is not None
    return result[0]


def make_admin(session: Session, org: Organisation | None = None, email: str | None = None) -> Caller:
    """An admin caller (of a new organisation unless given), a fresh e-mail each time."""
    org = org or make_org(session)
    user = auth.create_user(session, org, email or f"admin-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, role="admin")
    session.commit()
    return Caller(
        user_id=user.id,
        organisation_id=org.id,
        role="admin",
        email=user.email,
        display_name="admin",
        language="ja",
        organisation_name=org.name,
    )


def make_key(session: Session, admin: Caller, scopes=("read", "send", "manage"), allowlist="", **kw) -> str:
    """An API key made through the real service: the full secret (shown once)."""
    _, secret = api_keys.create_key(session, admin, "test key", list(scopes), allowlist, **kw)
    session.commit()  # the service flushes; the live server reads it on its own connection
    return secret


# ------------------------------------------------------------------ the recipient journey


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
    recipient_language: str = "ja",
    **org_fields,
) -> Journey:
    """A sending campaign with one delivered recipient and a live link (the raw
    token as it would appear in the SMS). ``answers`` maps a question label to
    (kind, expected raw answer); ``org_fields`` go to ``make_org`` (quiet hours
    off unless given)."""
    if answers is None:
        answers = {"生年月日": ("date", "1980-01-02"), "お客様番号": ("digits", "123456")}
    org_fields.setdefault("sender_name", "テスト電力")
    org_fields.setdefault("support_phone", "03-1234-5678")
    org = make_org(session, "テスト電力株式会社", **org_fields)
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
        recipient_language=recipient_language,
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
