"""Support actions: each needs a reason, writes an audit record and a
timeline event with the actor, is refused to other organisations and to
roles without the permission, and does what it says (reissue through the real
dispatcher and the SMS simulator over HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.domain.clock import utcnow
from smspay_app.models import AuditLog, Campaign, Link, Payment, Recipient, SendAttempt, TimelineEvent
from smspay_app.services import auth, journey, support
from smspay_app.services.support import SupportError
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_caller, make_journey, make_org
from tests.helpers import reload


def _caller(session, j, role="support"):
    from smspay_app.models import Organisation

    return make_caller(session, session.get(Organisation, j.organisation_id), role)


def _audits(session, recipient_id):
    session.expire_all()
    return session.exec(
        select(AuditLog).where(AuditLog.target_id == recipient_id, AuditLog.target_type == "recipient")
    ).all()


def test_reason_is_required_and_nothing_changes_without_it(session):
    j = make_journey(session)
    caller = _caller(session, j)
    for reason in ("", "   ", "x"):
        with pytest.raises(SupportError) as err:
            support.reissue_link(session, caller, j.recipient_id, reason)
        assert err.value.key == "ops.error.reason_required"
    assert reload(session, Link, j.link_id).revoked_at is None
    assert session.exec(select(SendAttempt)).all() == []
    assert _audits(session, j.recipient_id) == []


def test_other_organisation_cannot_touch_the_recipient(session):
    j = make_journey(session)
    other = make_caller(session, make_org(session, "他社"), "admin", "other@example.com")
    for action in support.ACTIONS:
        with pytest.raises(SupportError) as err:
            support.run_action(session, other, action, j.recipient_id, "電話で依頼", hours=24)
        assert err.value.key == "ops.error.not_found"
    assert reload(session, Link, j.link_id).revoked_at is None
    assert session.exec(select(AuditLog).where(AuditLog.action.like("support.%"))).all() == []


def test_a_role_without_the_permission_is_refused(session):
    j = make_journey(session)
    caller = _caller(session, j)
    nobody = auth.Caller(caller.user_id, caller.organisation_id, "viewer", "", "", "ja", "")
    with pytest.raises(auth.NotAllowed):
        support.reissue_link(session, nobody, j.recipient_id, "電話で依頼")


async def test_reissue_of_an_expired_link_sends_a_new_sms_and_the_old_link_shows_expired(live_server, session):
    j = make_journey(session, lifetime_hours=1)
    caller = _caller(session, j)
    later = utcnow() + timedelta(hours=2)
    with clock.frozen(later):
        ctx = journey.load_context(session, j.token)
        assert journey.link_state(ctx) == "expired"
        result = support.reissue_link(session, caller, j.recipient_id, "お客様から電話: 期限切れ")
        old = reload(session, Link, j.link_id)
        assert old.revoked_at == later and old.revoked_reason == "reissued"
        # The old link still reads as expired (it was, before it was withdrawn).
        assert journey.link_state(journey.load_context(session, j.token)) == "expired"
        attempt = session.get(SendAttempt, result.attempt_id)
        assert attempt.kind == "reissue" and attempt.status == "queued" and not attempt.ignore_quiet_hours
        session.commit()  # the action flushes; its entry point commits
        assert await run_dispatcher_once(later) == 1
    session.expire_all()
    attempt = session.get(SendAttempt, result.attempt_id)
    assert attempt.status in ("accepted", "sent", "delivered") and attempt.provider_message_id
    links = session.exec(select(Link).where(Link.recipient_id == j.recipient_id).order_by(Link.id)).all()
    assert len(links) == 2 and links[1].revoked_at is None and links[1].expires_at > later
    # The simulator's inbox has the new SMS with a link that is not the old one.
    with live_server.client() as c:
        page = c.get("/sim/twilio/inbox/%2B819012345678").text
    assert "/l/" in page and j.token not in page
    (audit,) = _audits(session, j.recipient_id)
    assert audit.action == "support.reissue" and audit.user_id == caller.user_id
    assert audit.reason == "お客様から電話: 期限切れ"
    event = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "staff_reissue")).one()
    assert event.actor_user_id == caller.user_id


async def test_reissue_waits_for_quiet_hours_unless_overridden(live_server, session):
    j = make_journey(session)
    from smspay_app.models import Organisation

    org = session.get(Organisation, j.organisation_id)
    org.quiet_hours_start, org.quiet_hours_end = "21:00", "08:00"
    session.add(org)
    session.commit()
    caller = _caller(session, j)
    night = datetime(2030, 1, 10, 14, 0)  # 23:00 JST
    with clock.frozen(night):
        held = support.reissue_link(session, caller, j.recipient_id, "夜間の依頼")
        session.commit()
        assert await run_dispatcher_once(night) == 0
        session.expire_all()
        attempt = session.get(SendAttempt, held.attempt_id)
        assert attempt.status == "queued" and attempt.held_for_quiet_hours
        assert attempt.not_before == datetime(2030, 1, 10, 23, 0)  # 08:00 JST
        # Explicit override: a second recipient's reissue goes out at once.
        j2 = make_journey(session, phone="+819011112222")
        session.exec(select(Campaign)).all()
        org2 = session.get(Organisation, j2.organisation_id)
        org2.quiet_hours_start, org2.quiet_hours_end = "21:00", "08:00"
        session.add(org2)
        session.commit()
        caller2 = make_caller(session, org2, "support")
        now_ = support.reissue_link(session, caller2, j2.recipient_id, "同意あり", override_quiet_hours=True)
        session.commit()
        assert await run_dispatcher_once(night) == 1
        session.expire_all()
        assert session.get(SendAttempt, now_.attempt_id).status != "queued"
        audit = session.get(AuditLog, now_.audit_id)
        assert '"override_quiet_hours": true' in audit.detail


def test_reissue_refused_for_paid_and_when_already_queued(session):
    j = make_journey(session)
    caller = _caller(session, j)
    support.reissue_link(session, caller, j.recipient_id, "一回目")
    with pytest.raises(SupportError) as err:
        support.reissue_link(session, caller, j.recipient_id, "二回目")
    assert err.value.key == "ops.error.already_queued"
    support.mark_paid_outside(session, caller, j.recipient_id, "銀行振込を確認")
    with pytest.raises(SupportError) as err:
        support.resend(session, caller, j.recipient_id, "再送")
    assert err.value.key == "ops.error.recipient_closed"


def test_extend_reopens_an_expired_recipient(session):
    j = make_journey(session, lifetime_hours=1)
    caller = _caller(session, j)
    r = session.get(Recipient, j.recipient_id)
    r.status, r.delivered_at, r.expired_at = "expired", utcnow(), utcnow()
    session.add(r)
    session.commit()
    later = utcnow() + timedelta(hours=3)
    with clock.frozen(later):
        support.extend_link(session, caller, j.recipient_id, "延長依頼", 48)
        link = reload(session, Link, j.link_id)
        assert link.expires_at == later + timedelta(hours=48)
        assert journey.link_state(journey.load_context(session, j.token)) == "ok"
    assert reload(session, Recipient, j.recipient_id).status == "delivered"
    with pytest.raises(SupportError) as err:
        support.extend_link(session, caller, j.recipient_id, "延長依頼", 0)
    assert err.value.key == "ops.error.hours_range"


def test_unlock_clears_the_lock_and_reopens(session):
    j = make_journey(session, max_wrong_answers=2)
    caller = _caller(session, j)
    r = session.get(Recipient, j.recipient_id)
    r.delivered_at = utcnow()
    session.add(r)
    session.commit()
    with pytest.raises(SupportError) as err:
        support.unlock_link(session, caller, j.recipient_id, "ロック解除")
    assert err.value.key == "ops.error.not_locked"
    for _ in range(2):
        ctx = journey.load_context(session, j.token)
        journey.verify_answers(session, ctx, {q: "wrong" for q in j.question_ids})
        session.commit()
    assert reload(session, Recipient, j.recipient_id).status == "locked"
    support.unlock_link(session, caller, j.recipient_id, "本人確認済み（電話）")
    link = reload(session, Link, j.link_id)
    assert link.locked_at is None and link.failed_attempts == 0
    # Answering proves the person opened the link: back to "clicked".
    assert reload(session, Recipient, j.recipient_id).status == "clicked"
    assert journey.link_state(journey.load_context(session, j.token)) == "ok"


def test_cancel_revokes_and_cancels_queued(session):
    j = make_journey(session)
    caller = _caller(session, j)
    support.resend(session, caller, j.recipient_id, "再送依頼")
    support.cancel_recipient(session, caller, j.recipient_id, "契約解除")
    session.expire_all()
    assert session.get(Recipient, j.recipient_id).status == "cancelled"
    assert {a.status for a in session.exec(select(SendAttempt))} == {"cancelled"}
    assert reload(session, Link, j.link_id).revoked_at is not None
    assert [a.action for a in _audits(session, j.recipient_id)] == ["support.resend", "support.cancel"]


def test_mark_paid_outside_records_a_manual_payment(session):
    j = make_journey(session, amount_yen=5_500)
    caller = _caller(session, j)
    support.mark_paid_outside(session, caller, j.recipient_id, "窓口で現金受領")
    session.expire_all()
    r = session.get(Recipient, j.recipient_id)
    assert r.status == "paid" and r.paid_at is not None
    (payment,) = session.exec(select(Payment)).all()
    assert payment.method == "manual" and payment.amount_yen == 5_500 and payment.status == "succeeded"
    with pytest.raises(SupportError) as err:
        support.mark_paid_outside(session, caller, j.recipient_id, "二重")
    assert err.value.key == "ops.error.already_paid"
    assert len(session.exec(select(Payment)).all()) == 1
