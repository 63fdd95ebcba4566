"""Onboarding (issue 19): the first start without the demo, the installation
owner and the organisations' lifecycle (create, invite the first admin,
suspend, reactivate, delete), and the owner's blindness to recipient data
(forged handler calls, as tests/test_admin_handlers.py does)."""

from __future__ import annotations

import io
import json

import pytest
import reflex as rx
from sqlmodel import func, select

from smspay_app.models import ApiKey, AuditLog, Campaign, Link, OptOut, Organisation, Recipient, SendAttempt, User
from smspay_app.services import api_keys, auth, campaigns, installation, sending, totp, users
from smspay_app.services.settings import SettingsInvalid
from tests.factories import PASSWORD, make_campaign, make_org, signed_in
from tests.helpers import api_client, reload

OWNER_EMAIL = "owner@example.org"


def _token_of(link: str) -> str:
    assert installation.SETUP_PATH in link
    return link.rsplit("/", 1)[1]


def _fresh_owner(session) -> tuple[str, auth.Caller]:
    """A fresh install's owner, made through the set-up link."""
    for user in session.exec(select(User)).all():  # the template may hold none; be sure
        session.delete(user)
    session.commit()
    link = installation.new_setup_link(session)
    session_token, caller = installation.complete_setup(
        session, _token_of(link), OWNER_EMAIL, "オーナー", PASSWORD, PASSWORD, "ja"
    )
    session.commit()
    return session_token, caller


def _state(state_cls, token: str, query: dict | None = None, path: str = "/"):
    root = rx.State(_reflex_internal_init=True)
    if query is not None:
        root.router_data = root._update_router_vars({"query": query, "pathname": path, "asPath": path}, {})
    state = root.get_substate(state_cls.get_full_name().split("."))
    state._bind_session(token)
    return state


@pytest.fixture
def app_module(settings):
    import smspay_app.smspay_app as module  # registers the pages and their route args

    return module


# ----------------------------------------------------------------- first start


def test_first_start_without_demo_prints_a_one_time_setup_link(settings, session, monkeypatch, capsys):
    from smspay_app import startup

    monkeypatch.setattr(settings, "seed_demo", False)
    startup.main()
    printed = capsys.readouterr().out
    assert "first set-up:" in printed and "demo sign-in" not in printed
    link = next(w for w in printed.split() if installation.SETUP_PATH in w)
    assert link.startswith(settings.public_base_url)
    session.expire_all()
    assert session.exec(select(User)).first() is None
    assert session.exec(select(Organisation)).first() is None  # no demo company
    assert installation.setup_link_valid(session, _token_of(link))

    # the command line makes a new one and the older one stops working
    from smspay_app import admin

    out = io.StringIO()
    assert admin.run(["setup"], out=out) == 0
    newer = out.getvalue().strip()
    session.expire_all()
    assert not installation.setup_link_valid(session, _token_of(link))
    assert installation.setup_link_valid(session, _token_of(newer))


def test_setup_link_creates_the_owner_once_with_their_own_password(settings, session):
    link = installation.new_setup_link(session)
    session.commit()
    token = _token_of(link)
    with pytest.raises(SettingsInvalid) as bad:
        installation.complete_setup(session, token, "not-an-email", "", "short", "short", "ja")
    assert {e.field for e in bad.value.errors} == {"email", "password"}
    with pytest.raises(SettingsInvalid) as mismatch:
        installation.complete_setup(session, token, OWNER_EMAIL, "", PASSWORD, PASSWORD + "x", "ja")
    assert [e.key for e in mismatch.value.errors] == ["setup.error.password_mismatch"]

    session_token, caller = installation.complete_setup(
        session, token, OWNER_EMAIL, "オーナー", PASSWORD, PASSWORD, "en"
    )
    session.commit()
    assert caller.role == "owner" and auth.caller_for_token(session, session_token) == caller
    owner = session.get(User, caller.user_id)
    assert not owner.must_change_password and owner.language == "en"
    assert auth.sign_in(session, OWNER_EMAIL, PASSWORD) is not None  # the password they chose
    # the link is spent; no second link while a user exists
    assert not installation.setup_link_valid(session, token)
    with pytest.raises(installation.InstallationError):
        installation.complete_setup(session, token, "other@example.org", "", PASSWORD, PASSWORD, "ja")
    with pytest.raises(installation.InstallationError):
        installation.new_setup_link(session)
    assert session.exec(select(func.count()).select_from(User)).one() == 1
    # TOTP is offered at once through services.totp (the set-up page's next step)
    enrolment = totp.begin_enrolment(session, owner)
    codes = totp.confirm_enrolment(session, owner, totp.code_at(enrolment.secret))
    assert len(codes) > 0 and totp.is_enabled(owner)


def test_expired_setup_link_is_refused(settings, session):
    from datetime import timedelta

    from smspay_app.domain import clock

    link = installation.new_setup_link(session)
    session.commit()
    with clock.frozen(clock.utcnow() + timedelta(hours=settings.setup_link_hours, seconds=1)):
        assert not installation.setup_link_valid(session, _token_of(link))
        with pytest.raises(installation.InstallationError):
            installation.complete_setup(session, _token_of(link), OWNER_EMAIL, "", PASSWORD, PASSWORD, "ja")


def test_setup_page_handlers_create_owner_and_offer_totp(app_module, settings, session):
    from smspay_app.pages.setup import SetupState

    link = installation.new_setup_link(session)
    session.commit()
    state = _state(SetupState, "", {"token": _token_of(link)}, "/setup/x")
    SetupState.load.fn(state)
    assert state.step == "form"
    SetupState.submit.fn(
        state, {"email": OWNER_EMAIL, "display_name": "オーナー", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert state.step == "totp" and state.enrol_secret and state._session_ref
    SetupState.confirm_totp.fn(state, {"code": totp.code_at(state.enrol_secret)})
    assert state.step == "codes" and len(state.recovery_codes) > 0
    # a second visit of the spent link shows the notice
    again = _state(SetupState, "", {"token": _token_of(link)}, "/setup/x")
    SetupState.load.fn(again)
    assert again.step == "invalid"


# ----------------------------------------------------------------- organisations


def test_owner_creates_organisation_and_invites_its_first_admin(settings, session):
    _, owner = _fresh_owner(session)
    with pytest.raises(SettingsInvalid) as bad:
        installation.create_organisation(session, owner, name="", timezone="Mars/Base", monthly_sms_cap="-1")
    assert {e.field for e in bad.value.errors} == {"name", "timezone", "monthly_sms_cap"}
    org = installation.create_organisation(
        session, owner, name="山田商店", sender_name="山田商店", timezone="Asia/Tokyo", support_phone="03-1234-5678"
    )
    session.commit()
    assert (org.status, org.kind, org.support_phone, org.quiet_hours_start) == (
        "active",
        "business",
        "03-1234-5678",
        "21:00",
    )
    view, temporary = installation.invite_admin(session, owner, org.id, "Boss@Yamada.example", "山田")
    session.commit()
    assert view.role == "admin" and view.email == "boss@yamada.example"
    # the existing temporary-password flow: sign in, then nothing but the account page
    token, caller = auth.sign_in(session, "boss@yamada.example", temporary)
    assert caller.organisation_id == org.id and caller.must_change_password and not caller.can("campaign.send")
    users.change_password(session, caller, temporary, PASSWORD, caller_ref=auth.session_ref(token))
    session.commit()
    caller = auth.caller_for_token(session, token)
    assert caller.can("campaign.send") and caller.can("usage.view")
    assert [o.name for o in installation.list_organisations(session, owner)] == [
        "山田商店"
    ]  # not the installation's row
    actions = set(session.exec(select(AuditLog.action).where(AuditLog.organisation_id == org.id)).all())
    assert {"installation.org_create", "installation.invite_admin"} <= actions
    # organisation roles cannot do any of this
    with pytest.raises(auth.NotAllowed):
        installation.create_organisation(session, caller, name="x")
    with pytest.raises(auth.NotAllowed):
        installation.set_suspended(session, caller, org.id, True)


async def test_the_owner_reads_no_recipient_data_through_services_handlers_or_api(
    app_module, settings, session, live_server
):
    from smspay_app.pages.recipients import RecipientDetailState, RecipientsState
    from smspay_app.pages.usage import UsageState
    from tests.helpers import open_campaign_page

    owner_token, owner = _fresh_owner(session)
    org = installation.create_organisation(session, owner, name="A社", support_phone="0120-111-222")
    session.commit()
    _, admin = signed_in(session, org, "admin")
    campaign = make_campaign(session, org, recipients=2)
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).first()

    for permission in ("campaign.view", "recipient.support", "recipient.export", "settings.manage", "users.manage"):
        assert not owner.can(permission)
    with pytest.raises(auth.NotAllowed):
        campaigns.list_campaigns(session, owner)
    with pytest.raises(auth.NotAllowed):
        api_keys.create_key(session, owner, "mine", ["read"])

    opened = await open_campaign_page(owner_token, campaign.id)
    assert opened.header.name == "" and opened.header.counts == {}
    assert opened.table.recipients == [] and opened.table.total == 0
    search = _state(RecipientsState, owner_token)
    RecipientsState.load.fn(search)
    assert search.total == 0
    one = _state(RecipientDetailState, owner_token, {"recipient_id": str(recipient.id)}, f"/recipients/{recipient.id}")
    RecipientDetailState.load.fn(one)
    dumped = json.dumps(one.dict(), ensure_ascii=False, default=str) + json.dumps(
        search.dict(), ensure_ascii=False, default=str
    )
    assert recipient.phone_e164 not in dumped and recipient.name not in dumped
    assert "9010000000" not in dumped

    # the owner's own page and the usage page show counts only
    from smspay_app.pages.installation import OwnerState

    page = _state(OwnerState, owner_token)
    OwnerState.load.fn(page)
    assert [r["name"] for r in page.rows] == ["A社"]
    seen = json.dumps(page.dict(), ensure_ascii=False, default=str)
    assert recipient.phone_e164 not in seen and recipient.name not in seen
    usage_page = _state(UsageState, owner_token, {"org": str(org.id)}, f"/usage?org={org.id}")
    UsageState.load.fn(usage_page)
    assert usage_page.loaded and usage_page.org_label == "A社"

    # another organisation's admin cannot read A's usage by forging ?org=
    other = make_org(session, "B社")
    other_token, _ = signed_in(session, other, "admin")
    forged = _state(UsageState, other_token, {"org": str(org.id)}, f"/usage?org={org.id}")
    UsageState.load.fn(forged)
    assert forged.org_label == "B社"

    # the API: the owner holds no key, and a session token is no API key
    with api_client(live_server, owner_token) as c:
        assert c.get("/api/v1/campaigns").status_code == 401
    assert admin.organisation_id == org.id


def test_suspended_organisation_api_keys_get_403_and_recipient_pages_a_notice(settings, session, live_server):
    from tests.factories import make_journey

    _, owner = _fresh_owner(session)
    j = make_journey(session, support_phone="0120-999-888")
    org = session.get(Organisation, j.organisation_id)
    _, admin = signed_in(session, org, "admin")
    key = api_keys.create_key(session, admin, "k", ["read", "send"])[1]
    other = make_org(session, "無関係")
    _, other_admin = signed_in(session, other, "admin")
    other_key = api_keys.create_key(session, other_admin, "k", ["read"])[1]
    session.commit()

    with live_server.client() as c:
        assert c.get(f"/l/{j.token}").status_code == 200
    installation.set_suspended(session, owner, org.id, True)
    session.commit()
    with api_client(live_server, key) as c:
        r = c.get("/api/v1/campaigns")
    assert r.status_code == 403 and r.json()["error"]["code"] == "organisation_suspended"
    with api_client(live_server, other_key) as c:
        assert c.get("/api/v1/campaigns").status_code == 200
    with live_server.client() as c:
        page = c.get(f"/l/{j.token}")
        posted = c.post(f"/l/{j.token}", data={"lang": "ja"})
        # post/redirect/get (issue 14): the POST goes back to the link's page, which says it
        after = c.get(posted.headers["location"]) if posted.status_code == 303 else posted
    assert page.status_code == 503 and "0120-999-888" in page.text
    assert "現在ご利用いただけません" in page.text
    assert "山田太郎" not in page.text  # neutral: nothing of the message or the person
    assert posted.status_code == 303 and after.status_code == 503 and "現在ご利用いただけません" in after.text
    session.expire_all()
    assert reload(session, Link, j.link_id).clicked_at is None

    installation.set_suspended(session, owner, org.id, False)
    session.commit()
    with api_client(live_server, key) as c:
        assert c.get("/api/v1/campaigns").status_code == 200
    with live_server.client() as c:
        assert c.get(f"/l/{j.token}").status_code == 200


@pytest.mark.also_on_postgresql
async def test_suspending_mid_send_stops_within_one_cycle_and_reactivating_resumes(settings, session, live_server):
    from smspay_app.worker import run_dispatcher_once

    def sent() -> int:
        with live_server.client() as c:
            return c.get("/sim/twilio/_stats").json()["messages"]

    _, owner = _fresh_owner(session)
    org = installation.create_organisation(session, owner, name="途中停止")
    session.commit()
    org = reload(session, Organisation, org.id)
    org.quiet_hours_start = org.quiet_hours_end = "00:00"  # tests run at any hour
    session.add(org)
    other = make_org(session, "他社")
    mine = make_campaign(session, org, recipients=6)
    theirs = make_campaign(session, other, recipients=4, first_phone=100)
    sending.start_sending(session, mine)
    sending.start_sending(session, theirs)
    session.commit()

    assert await run_dispatcher_once(batch_size=2) == 2  # mid-send
    installation.set_suspended(session, owner, org.id, True)
    session.commit()
    before = sent()
    for _ in range(4):
        await run_dispatcher_once(batch_size=2)
    session.expire_all()
    mine_sent = session.exec(
        select(func.count())
        .select_from(SendAttempt)
        .where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at.is_not(None))
    ).one()
    assert mine_sent <= 2 and sent() - before == 4  # only the other organisation's messages went out
    assert reload(session, Campaign, mine.id).status == "sending"  # held, not cancelled or paused

    installation.set_suspended(session, owner, org.id, False)
    session.commit()
    while await run_dispatcher_once():
        pass
    session.expire_all()
    assert (
        session.exec(
            select(func.count())
            .select_from(SendAttempt)
            .where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at.is_not(None))
        ).one()
        == 6
    )


def test_delete_erases_personal_data_keeps_audit_and_usage(settings, session):
    from datetime import timedelta

    from smspay_app.domain.clock import utcnow
    from smspay_app.services import usage

    _, owner = _fresh_owner(session)
    org = installation.create_organisation(session, owner, name="削除商事")
    session.commit()
    token, admin = signed_in(session, org, "admin")
    api_keys.create_key(session, admin, "k", ["read"])
    campaign = make_campaign(session, org, recipients=3)
    sending.start_sending(session, campaign)
    attempts = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).all()
    done = attempts[0]
    done.status, done.accepted_at, done.segments, done.provider = (
        "accepted",
        utcnow() - timedelta(minutes=1),
        2,
        "simulator",
    )
    session.add(done)
    session.add(OptOut(organisation_id=org.id, phone_e164="+819099999999"))
    session.commit()
    month = usage.month_of(org.timezone, done.accepted_at)  # the month it was accepted in, whatever the hour
    before = usage.month_usage(session, owner, org.id, *month)
    assert (before.messages, before.segments) == (1, 2)

    with pytest.raises(installation.InstallationError):
        installation.delete_organisation(session, owner, org.id, confirm_name="違う", reason="解約")
    with pytest.raises(installation.InstallationError):
        installation.delete_organisation(session, owner, org.id, confirm_name="削除商事", reason="")
    installation.delete_organisation(session, owner, org.id, confirm_name="削除商事", reason="解約")
    session.commit()
    session.expire_all()
    recipients = session.exec(select(Recipient).where(Recipient.organisation_id == org.id)).all()
    assert recipients and all(r.erased_at is not None and r.name == "" for r in recipients)
    assert all(r.phone_e164.startswith("erased-") for r in recipients)
    assert session.exec(select(OptOut).where(OptOut.organisation_id == org.id)).all() == []
    assert all(k.revoked_at is not None for k in session.exec(select(ApiKey).where(ApiKey.organisation_id == org.id)))
    assert auth.caller_for_token(session, token) is None
    staff = session.exec(select(User).where(User.organisation_id == org.id)).all()
    assert all(not u.is_active and u.email.endswith("@invalid") for u in staff)
    assert {a.status for a in session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id))} == {
        "accepted",
        "cancelled",
    }
    after = usage.month_usage(session, owner, org.id, *month)
    assert (after.messages, after.segments) == (1, 2)  # usage kept
    actions = set(session.exec(select(AuditLog.action).where(AuditLog.organisation_id == org.id)).all())
    assert {"installation.org_create", "installation.org_delete", "retention.erase"} <= actions
    assert installation.list_organisations(session, owner) == []
    assert [o.status for o in installation.list_organisations(session, owner, include_deleted=True)] == ["deleted"]


def test_command_line_admin_creates_invites_suspends_and_exports(settings, session):
    from smspay_app import admin

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return admin.run(list(argv), out=out), out.getvalue()

    code, out = run("create-org", "CLI商事", "--sender-name", "CLI", "--support-phone", "0120-123-456", "--cap", "100")
    assert code == 0
    org_id = int(out.strip())
    code, out = run("invite-admin", str(org_id), "cli-admin@example.org", "--name", "管理者")
    assert code == 0 and "temporary password: " in out and f"{settings.public_base_url}/login" in out
    temporary = out.split("temporary password: ")[1].split()[0]
    session.expire_all()
    assert auth.sign_in(session, "cli-admin@example.org", temporary) is not None
    session.commit()
    assert run("suspend", str(org_id))[1].strip() == "suspended"
    assert run("reactivate", str(org_id))[1].strip() == "active"
    assert run("set-cap", str(org_id), "5")[1].strip() == "5"
    code, out = run("usage", "--month", "2026-11", "--lang", "en")
    assert code == 0 and out.startswith("\ufeffOrganisation,Month,SMS provider")
    assert run("create-org", "")[0] == 2  # refused, per field
    # an installation that has users but no owner yet (e.g. started with the demo) gets one
    code, out = run("setup")
    assert code == 0
    session.expire_all()
    installation.complete_setup(session, _token_of(out.strip()), OWNER_EMAIL, "", PASSWORD, PASSWORD, "ja")
    session.commit()
    assert run("setup")[0] == 1  # the owner exists


# ----------------------------------------------------------------- self-service sign-up


def test_self_service_signup_is_off_by_default_then_owner_approves_or_rejects(
    app_module, settings, session, monkeypatch
):
    from smspay_app.models import SignupApplication
    from smspay_app.pages.installation import OwnerState
    from smspay_app.pages.setup import SignupState

    owner_token, owner = _fresh_owner(session)
    assert settings.self_signup is False
    with pytest.raises(installation.InstallationError) as closed:
        installation.apply(session, business_name="申込商事", contact_name="申込", email="a@apply.example")
    assert closed.value.key == "signup.error.closed"

    monkeypatch.setattr(settings, "self_signup", True)
    page = _state(SignupState, "")
    SignupState.load.fn(page)
    assert page.open_
    SignupState.submit.fn(page, {"business_name": "", "email": "nope"})
    assert set(page.error_keys) == {"business_name", "email"} and not page.done
    SignupState.submit.fn(
        page,
        {"business_name": "申込商事", "contact_name": "申込 太郎", "email": "A@apply.example", "phone": "03-1111-2222"},
    )
    assert page.done
    with pytest.raises(installation.InstallationError) as twice:
        installation.apply(session, business_name="申込商事", email="a@apply.example", contact_name="")
    assert twice.value.key == "signup.error.pending"
    installation.apply(session, business_name="却下商事", email="b@apply.example", contact_name="")
    session.commit()

    owner_page = _state(OwnerState, owner_token)
    OwnerState.load.fn(owner_page)
    assert [a["business_name"] for a in owner_page.applications] == ["申込商事", "却下商事"]
    first, second = (int(a["id"]) for a in owner_page.applications)
    OwnerState.approve.fn(owner_page, str(first))
    assert owner_page.msg_key == "owner.applications.approved"
    temporary = owner_page.msg_fields["password"]
    assert owner_page.msg_fields["link"].endswith("/login") and owner_page.msg_fields["email"] == "a@apply.example"
    session.expire_all()
    assert auth.sign_in(session, "a@apply.example", temporary) is not None  # the invite the owner forwards
    session.commit()
    OwnerState.reject.fn(owner_page, {"application_id": str(second), "reason": ""})
    assert owner_page.msg_key == "owner.error.reason_required"
    OwnerState.reject.fn(owner_page, {"application_id": str(second), "reason": "審査基準外"})
    assert owner_page.msg_key == "owner.applications.rejected" and owner_page.applications == []
    session.expire_all()
    rejected = session.get(SignupApplication, second)
    assert (rejected.status, rejected.reason) == ("rejected", "審査基準外")
    assert [o.name for o in installation.list_organisations(session, owner)] == ["申込商事"]
    # only the owner decides
    _, org_admin = signed_in(session, make_org(session, "X"), "admin")
    with pytest.raises(auth.NotAllowed):
        installation.list_applications(session, org_admin)
    with pytest.raises(auth.NotAllowed):
        installation.approve_application(session, org_admin, first)


def test_sign_in_lands_owner_on_installation_and_temporary_password_on_account(
    app_module, settings, session, live_server
):
    """The sign-in form's route (POST /auth/session) sets the cookie and goes
    back to the login page, which sends each where they land."""
    from smspay_app.state import LoginState
    from smspay_app.web.session_cookie import SESSION_COOKIE

    def lands(email: str, password: str) -> str:
        with live_server.client() as http:
            response = http.post("/auth/session", data={"email": email, "password": password}, follow_redirects=False)
        assert response.headers["location"] == "/login"
        page = _state(LoginState, "")
        page._bind_session(response.cookies[SESSION_COOKIE])  # the next page load presents the cookie
        return str(LoginState.redirect_if_signed_in.fn(page))

    _fresh_owner(session)
    session.commit()
    assert "/installation" in lands(OWNER_EMAIL, PASSWORD)
    _, owner = auth.sign_in(session, OWNER_EMAIL, PASSWORD)
    org = installation.create_organisation(session, owner, name="着地")
    _, temporary = installation.invite_admin(session, owner, org.id, "land@example.org")
    session.commit()
    landed = lands("land@example.org", temporary)
    assert "/account" in landed and "/campaigns" not in landed  # no redirect loop through /campaigns


def test_a_suspended_organisations_users_are_told(app_module, settings, session):
    from smspay_app.state import AppState

    _, owner = _fresh_owner(session)
    org = installation.create_organisation(session, owner, name="告知")
    session.commit()
    token, _ = signed_in(session, org, "admin")
    state = _state(AppState, token, {}, "/campaigns")
    AppState.guard.fn(state)
    assert state.org_suspended is False
    installation.set_suspended(session, owner, org.id, True)
    session.commit()
    AppState.guard.fn(state)
    assert state.org_suspended is True


def test_the_banner_waits_for_the_app_and_names_pages_that_exist(settings, session, live_server, monkeypatch, capsys):
    from smspay_app import startup
    from tests.helpers import free_port

    monkeypatch.setattr(settings, "public_base_url", f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert startup.announce(timeout_seconds=0.3, poll_seconds=0.05) is False
    printed = capsys.readouterr().out
    assert "/login" not in printed and "did not answer" in printed

    monkeypatch.setattr(settings, "public_base_url", live_server.base_url)
    monkeypatch.setattr(settings, "sms_provider", "simulator")
    monkeypatch.setattr(settings, "payment_provider", "sandbox")
    assert startup.announce(timeout_seconds=10, poll_seconds=0.05) is True
    printed = capsys.readouterr().out
    assert f"{live_server.base_url}/login" in printed
    sandbox_url = next(w for w in printed.split() if "/sim/stripe" in w)
    inbox_url = next(w for w in printed.split() if "/sim/twilio" in w)
    with live_server.client() as client:  # from this machine: the simulators' own pages
        assert client.get(sandbox_url.removeprefix(live_server.base_url)).status_code == 200
        assert client.get(inbox_url.removeprefix(live_server.base_url)).status_code == 200
