"""Organisation settings: validation (time zone, quiet hours, sender id,
price, retention), nothing saved on bad input, audit rows, admins only, and
the TOTP requirement."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import AuditLog, Organisation
from smspay_app.services import auth, totp
from smspay_app.services import settings as org_settings
from tests.factories import PASSWORD, make_org, signed_in

GOOD = dict(
    name="テスト商事",
    sender_name="テスト",
    sender_id="TESTSHOJI",
    timezone="Asia/Tokyo",
    quiet_hours_start="21:00",
    quiet_hours_end="08:00",
    support_phone="0120-123-456",
    segment_price_yen="9.5",
    data_retention_days="90",
)


def _errors(session, caller, **overrides):
    with pytest.raises(org_settings.SettingsInvalid) as err:
        org_settings.update_settings(session, caller, {**GOOD, **overrides})
    return {(e.field, e.key) for e in err.value.errors}


def test_saves_valid_settings_with_one_audit_row(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    changes = org_settings.update_settings(
        session,
        admin,
        {**GOOD, "segment_price_yen": "１２", "quiet_hours_start": "２２：３０", "sender_id": "+81 90-1234-5678"},
    )
    session.refresh(org)
    assert (org.segment_price_yen, org.quiet_hours_start, org.sender_id, org.data_retention_days) == (
        12.0,
        "22:30",
        "+819012345678",
        90,
    )
    assert changes["data_retention_days"] == [365, 90]
    audit = session.exec(select(AuditLog).where(AuditLog.action == "settings.update")).all()
    assert len(audit) == 1 and audit[0].user_id == admin.user_id
    assert json.loads(audit[0].detail)["quiet_hours_start"] == ["00:00", "22:30"]
    # Saving the same values again changes nothing and writes no row.
    assert (
        org_settings.update_settings(
            session,
            admin,
            {**GOOD, "segment_price_yen": "12", "quiet_hours_start": "22:30", "sender_id": "+819012345678"},
        )
        == {}
    )
    assert len(session.exec(select(AuditLog).where(AuditLog.action == "settings.update")).all()) == 1


@pytest.mark.parametrize(
    "field,value,key",
    [
        ("name", "  ", "settings.error.name_required"),
        ("timezone", "Asia/Tokio", "settings.error.timezone"),
        ("timezone", "JST", "settings.error.timezone"),
        ("timezone", "../../etc/passwd", "settings.error.timezone"),
        ("quiet_hours_start", "25:00", "settings.error.hhmm"),
        ("quiet_hours_end", "8時", "settings.error.hhmm"),
        ("sender_id", "TOOLONGSENDER", "settings.error.sender_id"),
        ("sender_id", "12345", "settings.error.sender_id"),
        ("sender_id", "SMS PAY", "settings.error.sender_id"),
        ("sender_id", "+8112", "settings.error.sender_id"),
        ("support_phone", "call us", "settings.error.support_phone"),
        ("segment_price_yen", "-1", "settings.error.price"),
        ("segment_price_yen", "nan", "settings.error.price"),
        ("segment_price_yen", "abc", "settings.error.price"),
        ("data_retention_days", "0", "settings.error.retention"),
        ("data_retention_days", "3651", "settings.error.retention"),
        ("data_retention_days", "1.5", "settings.error.retention"),
    ],
)
def test_bad_input_is_named_and_nothing_saved(session, field, value, key):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    before = session.get(Organisation, org.id).model_dump()
    assert (field, key) in _errors(session, admin, **{field: value})
    session.expire_all()
    assert session.get(Organisation, org.id).model_dump() == before


def test_accepts_edge_values(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    for sender in ("A", "SMSPAY2026X", ""):
        org_settings.update_settings(
            session,
            admin,
            {**GOOD, "sender_id": sender, "segment_price_yen": "0", "data_retention_days": "3650", "timezone": "UTC"},
        )
        assert session.get(Organisation, org.id).sender_id == sender


@pytest.mark.parametrize("role", ["operator", "support"])
def test_only_admins_read_or_change_settings(session, role):
    org = make_org(session)
    _, caller = signed_in(session, org, role)
    with pytest.raises(auth.NotAllowed):
        org_settings.update_settings(session, caller, GOOD)
    with pytest.raises(auth.NotAllowed):
        org_settings.get_settings_for(session, caller)
    session.expire_all()
    assert session.get(Organisation, org.id).data_retention_days == 365


def test_admin_changes_only_their_own_organisation(session):
    a, b = make_org(session, "A社"), make_org(session, "B社")
    _, admin_a = signed_in(session, a, "admin")
    org_settings.update_settings(session, admin_a, {**GOOD, "name": "A社改"})
    session.expire_all()
    assert session.get(Organisation, a.id).name == "A社改"
    assert session.get(Organisation, b.id).name == "B社"


def test_require_totp_needs_own_totp_and_ends_sessions_of_users_without(session):
    org = make_org(session)
    admin_token, admin = signed_in(session, org, "admin")
    op_token, _ = signed_in(session, org, "operator")
    assert "require_totp" in {f for f, _ in _errors(session, admin, require_totp="on")}
    from smspay_app.models import User

    user = session.get(User, admin.user_id)
    with clock.frozen(datetime(2026, 11, 21, 3, 0)):
        enrolment = totp.begin_enrolment(session, user)
        totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))
    org_settings.update_settings(
        session, admin, {**GOOD, "require_totp": "on"}, caller_ref=auth.session_ref(admin_token)
    )
    assert session.get(Organisation, org.id).require_totp
    assert auth.caller_for_token(session, admin_token) is not None  # the admin's own tab stays
    assert auth.caller_for_token(session, op_token) is None  # must enrol at next sign-in
    assert auth.sign_in_start(session, f"operator-{org.id}@example.com", PASSWORD).kind == "enrol"
