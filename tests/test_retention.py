"""Personal-data retention with a frozen clock: nothing is erased before the
organisation's retention period after each recipient's last activity (here
the campaign's end); then phone, name,
merge data, external ref, identity answers and reply bodies are gone while the
funnel counts and amounts stay; running again changes nothing; other
campaigns and organisations are untouched. Also the job entry point."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import func, select

from smspay_app.domain import clock
from smspay_app.models import AuditLog, CampaignQuestion, IdentityAnswer, InboundMessage, Recipient
from smspay_app.services import campaigns, retention
from smspay_app.worker import retention as retention_job
from tests.factories import make_campaign, make_org

ENDED = datetime(2026, 1, 10, 12, 0)


def _ended_campaign(session, org, n=3, status="active", ended=ENDED, first_phone=0):
    # Imported two days before the end and last active the day before it (the
    # retention clock runs per recipient from its last activity).
    with clock.frozen(ended - timedelta(days=2)):
        campaign = make_campaign(session, org, recipients=n, status=status, completed_at=ended, first_phone=first_phone)
    question = CampaignQuestion(campaign_id=campaign.id, label="生年月日", column="生年月日", kind="date")
    session.add(question)
    session.commit()
    rows = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    for i, r in enumerate(rows):
        r.external_ref = f"C-{i}"
        r.amount_yen = 1000 * (i + 1)
        r.status = "paid" if i == 0 else "delivered"
        r.sent_at = r.delivered_at = ended - timedelta(days=1)
        if i == 0:
            r.clicked_at = r.verified_at = r.paid_at = ended - timedelta(hours=5)
        # Each recipient's last activity is the campaign's end (its link
        # expired then, or it opened its receipt then): the retention clock
        # runs per recipient from its last activity (issue 18, item 13).
        if i == 0:
            r.read_at = ended
        else:
            r.expired_at = ended
        session.add(r)
        session.add(IdentityAnswer(recipient_id=r.id, question_id=question.id, answer_hash="h" * 64))
        session.add(
            InboundMessage(
                organisation_id=org.id, recipient_id=r.id, from_phone=r.phone_e164, body="山田です。支払いました"
            )
        )
    session.commit()
    return campaign


def _personal(session, campaign_id):
    return [
        (r.phone_e164, r.name, r.merge_data, r.external_ref)
        for r in session.exec(
            select(Recipient).where(Recipient.campaign_id == campaign_id).order_by(Recipient.id)
        ).all()
    ]


def test_erases_after_retention_and_keeps_counts(session):
    org = make_org(session, data_retention_days=30)
    campaign = _ended_campaign(session, org)
    counts_before = campaigns.funnel_counts(session, campaign.id)
    personal_before = _personal(session, campaign.id)

    with clock.frozen(ENDED + timedelta(days=30) - timedelta(seconds=1)):
        assert retention.erase_due(session) == []
    session.expire_all()
    assert _personal(session, campaign.id) == personal_before

    with clock.frozen(ENDED + timedelta(days=30)):
        done = retention.erase_due(session)
    assert [(d.campaign_id, d.recipients) for d in done] == [(campaign.id, 3)]
    session.expire_all()
    rows = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    for r in rows:
        assert r.phone_e164 == f"erased-{r.id}" and r.name == "" and r.merge_data == "{}" and r.external_ref == ""
        assert r.erased_at == ENDED + timedelta(days=30)
    assert sorted(r.amount_yen for r in rows) == [1000, 2000, 3000]
    assert campaigns.funnel_counts(session, campaign.id) == counts_before
    ids = [r.id for r in rows]
    assert (
        session.exec(select(func.count()).select_from(IdentityAnswer).where(IdentityAnswer.recipient_id.in_(ids))).one()
        == 0
    )
    replies = session.exec(select(InboundMessage).where(InboundMessage.recipient_id.in_(ids))).all()
    assert replies and all(m.body == "" and not m.from_phone.startswith("+") for m in replies)
    audit = session.exec(select(AuditLog).where(AuditLog.action == "retention.erase")).all()
    assert len(audit) == 1 and audit[0].target_id == campaign.id
    assert "山田" not in audit[0].detail and "+81" not in audit[0].detail


def test_idempotent_and_scoped(session):
    short = make_org(session, "A社", data_retention_days=7)
    long = make_org(session, "B社", data_retention_days=3650)
    old = _ended_campaign(session, short)
    cancelled = _ended_campaign(session, short, status="cancelled", first_phone=10)
    recent = _ended_campaign(session, short, ended=ENDED + timedelta(days=20), first_phone=20)
    sending = make_campaign(session, short, recipients=2, status="sending", first_phone=30)
    other_org = _ended_campaign(session, long, first_phone=40)
    keep = {c.id: _personal(session, c.id) for c in (recent, sending, other_org)}

    with clock.frozen(ENDED + timedelta(days=10)):
        erased = {d.campaign_id for d in retention.erase_due(session)}
        assert erased == {old.id, cancelled.id}
        assert retention.erase_due(session) == []  # second run: nothing left to do
    session.expire_all()
    for cid, personal in keep.items():
        assert _personal(session, cid) == personal
    assert len(session.exec(select(AuditLog).where(AuditLog.action == "retention.erase")).all()) == 2


async def test_job_run_once_uses_the_clock(settings, session):
    org = make_org(session, data_retention_days=1)
    campaign = _ended_campaign(session, org)
    with clock.frozen(ENDED + timedelta(hours=23)):
        assert await retention_job.run_once() == []
    with clock.frozen(ENDED + timedelta(days=1)):
        done = await retention_job.run_once()
    assert [d.campaign_id for d in done] == [campaign.id]
    session.expire_all()
    assert all(p[0].startswith("erased-") for p in _personal(session, campaign.id))
