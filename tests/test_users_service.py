"""Users and roles: invite with a temporary password, change role,
deactivate (sessions end), reset password; never remove the last admin;
everything scoped to the organisation and audited. Own profile and password."""

from __future__ import annotations

import pytest
from sqlmodel import select

from smspay_app.models import AuditLog, User
from smspay_app.services import auth, users
from tests.factories import PASSWORD, make_org, signed_in


def test_invite_gives_a_working_temporary_password(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    view, password = users.invite_user(session, admin, " New.Person@Example.com ", "新人", "support")
    assert view.email == "new.person@example.com" and view.role == "support"
    token, caller = auth.sign_in(session, "new.person@example.com", password)
    assert caller.role == "support" and caller.organisation_id == org.id
    stored = session.get(User, view.id)
    assert password not in stored.password_hash
    audit = session.exec(select(AuditLog).where(AuditLog.action == "user.invite")).one()
    assert audit.target_id == view.id and password not in audit.detail


@pytest.mark.parametrize(
    "email,role,key",
    [("not-an-email", "operator", "users.error.email"), ("x@example.com", "owner", "users.error.role")],
)
def test_invite_refuses_bad_input(session, email, role, key):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    with pytest.raises(users.UserError) as err:
        users.invite_user(session, admin, email, "", role)
    assert err.value.key == key


def test_invite_refuses_an_email_in_use_even_in_another_org(session):
    a, b = make_org(session, "A社"), make_org(session, "B社")
    _, admin_a = signed_in(session, a, "admin")
    signed_in(session, b, "operator", email="taken@example.com")
    with pytest.raises(users.UserError) as err:
        users.invite_user(session, admin_a, "TAKEN@example.com", "", "operator")
    assert err.value.key == "users.error.email_taken"


def test_last_admin_cannot_be_demoted_or_deactivated(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    for action in (
        lambda: users.change_role(session, admin, admin.user_id, "operator"),
        lambda: users.set_active(session, admin, admin.user_id, False),
    ):
        with pytest.raises(users.UserError) as err:
            action()
        assert err.value.key == "users.error.last_admin"
    second, _ = users.invite_user(session, admin, "second@example.com", "", "admin")
    users.change_role(session, admin, admin.user_id, "operator")
    session.expire_all()
    assert session.get(User, admin.user_id).role == "operator"
    # ...and now `second` is the last admin (an inactive admin does not count).
    with pytest.raises(users.UserError):
        users.set_active(
            session, auth.Caller(second.id, org.id, "admin", second.email, "", "ja", org.name), second.id, False
        )


def test_deactivate_ends_sessions_and_blocks_sign_in(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    op_token, op = signed_in(session, org, "operator")
    users.set_active(session, admin, op.user_id, False)
    assert auth.caller_for_token(session, op_token) is None
    assert auth.sign_in(session, op.email, PASSWORD) is None
    users.set_active(session, admin, op.user_id, True)
    assert auth.caller_for_token(session, op_token) is None  # revoked, not just hidden
    assert auth.sign_in(session, op.email, PASSWORD) is not None


def test_reset_password_ends_sessions(session):
    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    op_token, op = signed_in(session, org, "operator")
    temp = users.reset_password(session, admin, op.user_id)
    assert auth.caller_for_token(session, op_token) is None
    assert auth.sign_in(session, op.email, PASSWORD) is None
    assert auth.sign_in(session, op.email, temp) is not None


def test_other_organisations_users_are_not_found_and_roles_are_checked(session):
    a, b = make_org(session, "A社"), make_org(session, "B社")
    _, admin_a = signed_in(session, a, "admin")
    b_token, user_b = signed_in(session, b, "operator")
    assert [u.email for u in users.list_users(session, admin_a)] == [admin_a.email]
    for action in (
        lambda: users.change_role(session, admin_a, user_b.user_id, "admin"),
        lambda: users.set_active(session, admin_a, user_b.user_id, False),
        lambda: users.reset_password(session, admin_a, user_b.user_id),
    ):
        with pytest.raises(users.UserError) as err:
            action()
        assert err.value.key == "users.error.not_found"
    session.expire_all()
    assert session.get(User, user_b.user_id).role == "operator"
    assert auth.caller_for_token(session, b_token) is not None
    _, op_a = signed_in(session, a, "operator")
    with pytest.raises(auth.NotAllowed):
        users.list_users(session, op_a)
    with pytest.raises(auth.NotAllowed):
        users.invite_user(session, op_a, "x@example.com", "", "admin")
    with pytest.raises(auth.NotAllowed):
        users.change_role(session, op_a, op_a.user_id, "admin")


def test_profile_language_and_password(session):
    org = make_org(session)
    token, me = signed_in(session, org, "operator")
    other_token = auth.sign_in(session, me.email, PASSWORD)[0]
    users.update_profile(session, me, "山田", "en")
    assert users.set_language(session, me, "fr") == "ja"  # unknown: the default
    users.set_language(session, me, "en")
    assert auth.sign_in(session, me.email, PASSWORD)[1].language == "en"
    with pytest.raises(users.UserError) as err:
        users.change_password(session, me, "wrong", "a new long password")
    assert err.value.key == "account.error.current_password"
    with pytest.raises(users.UserError) as err:
        users.change_password(session, me, PASSWORD, "short")
    assert err.value.key == "account.error.password_short"
    users.change_password(session, me, PASSWORD, "a new long password", caller_ref=auth.session_ref(token))
    assert auth.caller_for_token(session, token) is not None
    assert auth.caller_for_token(session, other_token) is None
    assert auth.sign_in(session, me.email, "a new long password") is not None


def test_a_temporary_password_opens_the_account_page_only_until_changed(session):
    """Invited or reset users must choose their own password before they can
    do anything else (checked on the server, in every permission check)."""
    from smspay_app.services import auth as auth_service
    from smspay_app.services import campaigns as campaign_service

    org = make_org(session)
    _, admin = signed_in(session, org, "admin")
    view, temporary = users.invite_user(session, admin, "new-op@example.com", "新人", "operator")
    token, caller = auth_service.sign_in(session, "new-op@example.com", temporary)
    assert caller.must_change_password and not caller.can("campaign.view")
    with pytest.raises(auth_service.NotAllowed):
        campaign_service.list_campaigns(session, caller)
    users.change_password(session, caller, temporary, "my own long password", caller_ref=auth.session_ref(token))
    caller = auth_service.caller_for_token(session, token)
    assert not caller.must_change_password and caller.can("campaign.view")
    assert campaign_service.list_campaigns(session, caller) == []
    # An admin's reset sets it again.
    users.reset_password(session, admin, view.id)
    session.expire_all()
    assert session.get(User, view.id).must_change_password
