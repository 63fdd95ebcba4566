"""Sign-in, sessions, roles and organisation scoping of campaigns (services,
real SQLite through Alembic)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from smspay_app.db import get_engine
from smspay_app.domain import clock
from smspay_app.domain.clock import utcnow
from smspay_app.models import AuthSession, Recipient
from smspay_app.services import auth, campaigns
from tests.factories import make_caller, make_org


def _input(**overrides) -> campaigns.CampaignInput:
    data = dict(
        name="11月分ご請求",
        sms_template="{{name}}様 お支払いはこちら {{link}}",
        amount_yen=3300,
        questions=[campaigns.QuestionInput(label="生年月日", column="生年月日", kind="date")],
    )
    data.update(overrides)
    return campaigns.CampaignInput(**data)


@pytest.mark.migrates
def test_alembic_creates_every_table(settings):
    tables = set(inspect(get_engine()).get_table_names())
    from sqlmodel import SQLModel

    import smspay_app.models  # noqa: F401

    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_sign_in_checks_password_and_stores_only_a_hash(session):
    org = make_org(session, "A社")
    auth.create_user(session, org, "Ops@Example.com", "correct horse battery", role="admin")
    session.commit()
    assert auth.sign_in(session, "ops@example.com", "wrong password") is None
    assert auth.sign_in(session, "nobody@example.com", "correct horse battery") is None
    token, caller = auth.sign_in(session, " OPS@example.com ", "correct horse battery")
    assert caller.role == "admin" and caller.organisation_id == org.id
    stored = session.exec(__import__("sqlmodel").select(AuthSession)).one()
    assert token not in stored.token_hash and len(token) >= 40
    assert auth.caller_for_token(session, token) == caller
    assert auth.caller_for_token(session, token + "x") is None


def test_password_is_hashed_with_argon2id(session):
    org = make_org(session, "A社")
    user = auth.create_user(session, org, "a@example.com", "correct horse battery")
    assert user.password_hash.startswith("$argon2id$")


def test_the_app_hashes_passwords_at_argon2s_recommended_costs():
    """The suite hashes at the cheapest costs (tests/conftest.py); the app, in
    a fresh process, uses argon2id at the RFC 9106 low-memory profile, and a
    hash made at any costs still verifies."""
    import subprocess
    import sys

    from argon2 import profiles

    code = (
        "from smspay_app.domain.security import hash_password, verify_password\n"
        "h = hash_password('correct horse battery')\n"
        "assert verify_password(h, 'correct horse battery')\n"
        "print(h)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    p = profiles.RFC_9106_LOW_MEMORY
    assert out.startswith(f"$argon2id$v=19$m={p.memory_cost},t={p.time_cost},p={p.parallelism}$")
    from smspay_app.domain.security import verify_password

    assert verify_password(out, "correct horse battery")  # here the cheap hasher is configured
    assert not verify_password(out, "wrong horse battery")


def test_session_expires_and_sign_out_revokes(session):
    org = make_org(session, "A社")
    auth.create_user(session, org, "a@example.com", "correct horse battery")
    session.commit()
    start = utcnow()
    with clock.frozen(start) as frozen:
        token, _ = auth.sign_in(session, "a@example.com", "correct horse battery")
        frozen.tick(timedelta(hours=11, minutes=59))
        assert auth.caller_for_token(session, token) is not None
        frozen.tick(timedelta(minutes=2))
        assert auth.caller_for_token(session, token) is None
    token, _ = auth.sign_in(session, "a@example.com", "correct horse battery")
    auth.sign_out(session, token)
    assert auth.caller_for_token(session, token) is None


def test_roles_limit_actions(session):
    org = make_org(session, "A社")
    support = make_caller(session, org, "support")
    with pytest.raises(auth.NotAllowed):
        campaigns.create_campaign(session, support, _input())
    operator = make_caller(session, org, "operator")
    campaign = campaigns.create_campaign(session, operator, _input())
    assert campaigns.get_campaign(session, support, campaign.id) is not None  # support may look


def test_other_organisation_sees_nothing(session):
    org_a, org_b = make_org(session, "A社"), make_org(session, "B社")
    a = make_caller(session, org_a, "admin")
    b = make_caller(session, org_b, "admin")
    campaign = campaigns.create_campaign(session, a, _input())
    assert campaigns.get_campaign(session, b, campaign.id) is None
    assert campaigns.list_campaigns(session, b) == []
    assert campaigns.recipients_page(session, b, campaign.id) == []
    assert [c.id for c, _ in campaigns.list_campaigns(session, a)] == [campaign.id]


def test_campaign_validation_reports_each_problem(session):
    org = make_org(session, "A社")
    op = make_caller(session, org)
    with pytest.raises(campaigns.CampaignInvalid) as exc:
        campaigns.create_campaign(
            session,
            op,
            _input(
                name=" ",
                amount_yen=0,
                link_lifetime_hours=0,
                sms_template="あ" * 700,
                questions=[campaigns.QuestionInput("", "", "colour")] * 5,
            ),
        )
    keys = {e.key for e in exc.value.errors}
    assert keys == {
        "campaign.error.name_required",
        # no campaign amount is no longer an error (issue 12: the CSV may give
        # each recipient's); the send check refuses recipients without one
        "campaign.error.lifetime_range",
        "campaign.error.template_too_long",
        "campaign.error.too_many_questions",
        "campaign.error.question_incomplete",
        "campaign.error.question_kind",
    }
    assert campaigns.list_campaigns(session, op) == []  # nothing written


def test_funnel_counts_use_sql_and_later_steps_imply_earlier(session):
    org = make_org(session, "A社")
    op = make_caller(session, org)
    campaign = campaigns.create_campaign(session, op, _input())
    now = utcnow()
    rows = [
        dict(sent_at=now),
        dict(sent_at=now, delivered_at=now),
        dict(clicked_at=now),  # delivery callback never came: the click proves it
        dict(sent_at=now, delivered_at=now, clicked_at=now, verified_at=now, paid_at=now),
        dict(failed_at=now),
    ]
    for i, r in enumerate(rows):
        session.add(
            Recipient(
                campaign_id=campaign.id,
                organisation_id=org.id,
                phone_e164=f"+8190000000{i:02d}",
                amount_yen=1000 + i,
                **r,
            )
        )
    session.commit()
    counts = campaigns.funnel_counts(session, campaign.id)
    assert counts["recipients"] == 5
    assert (counts["sent"], counts["delivered"], counts["clicked"], counts["verified"], counts["paid"]) == (
        4,
        3,
        2,
        1,
        1,
    )
    assert counts["failed"] == 1
    assert counts["paid_yen"] == 1003
    [(listed, listed_counts)] = campaigns.list_campaigns(session, op)
    assert listed_counts == counts


def test_demo_seed_once(session):
    created = auth.ensure_demo(session)
    assert created is not None
    org, user = created
    assert user.role == "admin"
    assert auth.ensure_demo(session) is None


def test_wrong_passwords_pause_sign_in_for_that_address(session):
    org = make_org(session, "A社")
    auth.create_user(session, org, "target@example.com", "correct horse battery")
    session.commit()
    start = utcnow()
    with clock.frozen(start) as frozen:
        for _ in range(auth.MAX_PASSWORD_FAILURES):
            assert auth.sign_in_start(session, "target@example.com", "guess") is None
        # Now even the right password waits, and so does an unknown address
        # after as many tries (the limit says nothing about who exists).
        assert auth.sign_in_start(session, "Target@example.com", "correct horse battery").kind == "password_throttled"
        for _ in range(auth.MAX_PASSWORD_FAILURES):
            auth.sign_in_start(session, "nobody@example.com", "guess")
        assert auth.sign_in_start(session, "nobody@example.com", "guess").kind == "password_throttled"
        frozen.tick(auth.PASSWORD_FAILURE_WINDOW + timedelta(seconds=1))
        step = auth.sign_in_start(session, "target@example.com", "correct horse battery")
        assert step.kind == "done" and step.token
