"""Recipients across the organisation: paging, sorting, status filter, search
by phone (any typed form, prefix or last digits), name, customer number;
scoped to the caller's organisation; the timeline with attempts, bots and
staff actions; the replies inbox."""

from __future__ import annotations

from datetime import timedelta

from smspay_app.domain.clock import utcnow
from smspay_app.models import InboundMessage, Recipient, SendAttempt
from smspay_app.services import recipients, support, timeline
from smspay_app.services.recipients import RecipientQuery
from tests.factories import make_caller, make_campaign, make_org


def _setup(session):
    org = make_org(session)
    a = make_campaign(session, org, recipients=120, name="A", status="sending")
    b = make_campaign(session, org, recipients=30, name="B", first_phone=500)
    other = make_org(session, "他社")
    make_campaign(session, other, recipients=10, name="X")  # same phone numbers, other org
    return org, a, b, make_caller(session, org, "support"), make_caller(session, other, "admin", "x@example.com")


def test_paging_sorting_filtering_and_scoping(session):
    org, a, b, caller, outsider = _setup(session)
    page = recipients.search(session, caller, RecipientQuery())
    assert page.total == 150 and len(page.rows) == 50 and page.pages == 3
    last = recipients.search(session, caller, RecipientQuery(page=2))
    assert len(last.rows) == 50 and {r.campaign_name for r in last.rows} <= {"A", "B"}
    only_b = recipients.search(session, caller, RecipientQuery(campaign_id=b.id, sort="phone", descending=True))
    assert only_b.total == 30 and only_b.rows[0].phone_e164 == "+819010000529"
    r = session.get(Recipient, page.rows[0].id)
    r.status = "paid"
    session.add(r)
    session.commit()
    paid = recipients.search(session, caller, RecipientQuery(status="paid"))
    assert [x.id for x in paid.rows] == [r.id]
    assert recipients.search(session, caller, RecipientQuery(status="nonsense")).total == 0
    # The other organisation sees only its own 10, even with campaign A's id.
    assert recipients.search(session, outsider, RecipientQuery()).total == 10
    assert recipients.search(session, outsider, RecipientQuery(campaign_id=a.id)).total == 0
    assert recipients.get_detail(session, outsider, r.id) is None
    assert recipients.timeline(session, outsider, r.id) == []


def test_search_by_phone_name_and_customer_number(session):
    org, a, b, caller, _ = _setup(session)
    for typed in ("090-1000-0007", "０９０１００００００７", "+819010000007", "+81 90 1000 0007"):
        found = recipients.search(session, caller, RecipientQuery(q=typed))
        assert [x.phone_e164 for x in found.rows] == ["+819010000007"], typed
    prefix = recipients.search(session, caller, RecipientQuery(q="090-1000-001"))
    assert prefix.total == 10  # 0010..0019
    assert [x.phone_e164 for x in recipients.search(session, caller, RecipientQuery(q="0007")).rows] == [
        "+819010000007"
    ]  # last digits
    assert [x.name for x in recipients.search(session, caller, RecipientQuery(q="顧客50")).rows] == ["顧客50"] + [
        f"顧客50{i}" for i in range(10)
    ]
    r = session.get(Recipient, recipients.search(session, caller, RecipientQuery()).rows[3].id)
    r.external_ref = "C-7781"
    session.add(r)
    session.commit()
    assert [x.id for x in recipients.search(session, caller, RecipientQuery(q="C-7781")).rows] == [r.id]
    assert recipients.search(session, caller, RecipientQuery(q="100%_")).total == 0  # LIKE wildcards are literal


def test_timeline_shows_attempts_bots_and_staff_actions(session):
    org, a, b, caller, _ = _setup(session)
    r = session.get(Recipient, recipients.search(session, caller, RecipientQuery(campaign_id=a.id)).rows[0].id)
    attempt = SendAttempt(
        organisation_id=org.id,
        campaign_id=a.id,
        recipient_id=r.id,
        idempotency_key="k1",
        status="failed",
        provider_message_id="SM123",
        error_code="30003",
        error_message="unreachable",
    )
    session.add(attempt)
    session.flush()
    t0 = utcnow() - timedelta(minutes=5)
    timeline.record(
        session, r, "sms_failed", step="failed", at=t0, detail={"attempt_id": attempt.id, "error_code": "30003"}
    )
    timeline.record(session, r, "preview", at=t0 + timedelta(seconds=1), detail={"ua": "preview", "method": "GET"})
    session.commit()
    support.resend(session, caller, r.id, "番号確認のうえ再送")
    entries = recipients.timeline(session, caller, r.id)
    kinds = [e.kind for e in entries]
    assert kinds == ["sms_failed", "preview", "staff_resend"]
    assert entries[0].attempt["provider_message_id"] == "SM123" and entries[0].attempt["error_code"] == "30003"
    assert entries[1].flagged_bot and not entries[0].flagged_bot
    assert entries[2].actor == caller.display_name and entries[2].reason == "番号確認のうえ再送"
    audits = recipients.audit_entries(session, caller, r.id)
    assert [(a.action, name) for a, name in audits] == [("support.resend", caller.display_name)]


def test_replies_inbox_per_campaign(session):
    org, a, b, caller, outsider = _setup(session)
    ra = session.get(Recipient, recipients.search(session, caller, RecipientQuery(campaign_id=a.id)).rows[0].id)
    rb = session.get(Recipient, recipients.search(session, caller, RecipientQuery(campaign_id=b.id)).rows[0].id)
    for r, body in ((ra, "明日払います"), (rb, "停止")):
        session.add(
            InboundMessage(
                organisation_id=org.id, recipient_id=r.id, from_phone=r.phone_e164, body=body, is_opt_out=body == "停止"
            )
        )
    session.commit()
    rows, total = recipients.replies(session, caller)
    assert total == 2 and {x.body for x in rows} == {"明日払います", "停止"}
    rows, total = recipients.replies(session, caller, campaign_id=b.id)
    assert total == 1 and rows[0].is_opt_out and rows[0].campaign_name == "B"
    assert recipients.replies(session, outsider) == ([], 0)
