"""Issue 18 item 11 (Low): "Support can mark a ¥1,000 invoice paid for ¥1 or
¥0 while the dashboard counts ¥1,000": a mismatching amount is refused
(tests/test_low_findings.py); a part of the amount is recorded explicitly as
a partial payment with a reason, the recipient stays unpaid with the
outstanding amount reduced, and every total counts what was recorded."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from smspay_app.models import AuditLog, Organisation, Payment, Recipient, TimelineEvent
from smspay_app.services import actions, dashboard, exports, stats, support
from tests.factories import make_caller, make_journey


def _overview(session, caller, campaign_id):
    figures = {f.id: f for f in dashboard.overview(session, caller).campaigns}[campaign_id]
    return figures.collected_yen, figures.outstanding_yen


def _export_paid(session, campaign_id) -> list[str]:
    rows = list(exports.iter_rows(session, campaign_id, "Asia/Tokyo", "ja"))
    col = rows[0].index("入金額")
    return [r[col] for r in rows[1:]]


def test_partial_payment_with_reason_is_recorded_and_every_total_counts_it(session):
    """The dashboard's collected and outstanding and the export count the ¥300
    recorded, not ¥1,000 nor ¥0; the rest marks it paid at ¥700."""
    j = make_journey(session, amount_yen=1_000)
    org = session.get(Organisation, j.organisation_id)
    caller = make_caller(session, org, "support")
    admin = make_caller(session, org, "admin")
    campaign_id = j.campaign_id
    session.commit()
    assert _overview(session, admin, campaign_id) == (0, 1_000)

    support.run_action(session, caller, "record_partial_payment", j.recipient_id, "窓口で一部受領", amount_yen=300)
    session.commit()
    recipient = session.get(Recipient, j.recipient_id)
    assert recipient.paid_at is None and recipient.status != "paid"
    assert recipient.partial_paid_yen == 300
    from smspay_app.models import Campaign

    assert actions.outstanding_yen(recipient, session.get(Campaign, campaign_id)) == 700
    assert _overview(session, admin, campaign_id) == (300, 700)
    assert _export_paid(session, campaign_id) == ["300"]
    assert stats.counts_sql(session, campaign_id)["paid_yen"] == 300  # the counters agree with the rows

    audit = session.exec(select(AuditLog).where(AuditLog.action == "support.record_partial_payment")).one()
    assert audit.reason == "窓口で一部受領"
    assert json.loads(audit.detail)["amount_yen"] == 300 and json.loads(audit.detail)["outstanding_yen"] == 700
    assert session.exec(select(TimelineEvent).where(TimelineEvent.kind == "staff_record_partial_payment")).first()

    # the rest: mark paid for exactly what is outstanding, no more
    with pytest.raises(actions.ActionRefused) as err:
        actions.mark_paid_outside(session, caller, j.recipient_id, "残額受領", amount_yen=1_000)
    assert err.value.key == "ops.error.amount_mismatch" and err.value.fields["expected"] == 700
    actions.mark_paid_outside(session, caller, j.recipient_id, "残額受領")
    session.commit()
    assert sorted(p.amount_yen for p in session.exec(select(Payment)).all()) == [300, 700]
    assert _overview(session, admin, campaign_id) == (1_000, 0)
    assert _export_paid(session, campaign_id) == ["1000"]
    assert stats.counts_sql(session, campaign_id)["paid_yen"] == 1_000


@pytest.mark.parametrize("amount", [0, -5, 1_000, 1_200])
def test_partial_payment_must_be_less_than_what_is_outstanding(session, amount):
    j = make_journey(session, amount_yen=1_000)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    with pytest.raises(actions.ActionRefused) as err:
        actions.record_partial_payment(session, caller, j.recipient_id, amount, "窓口で一部受領")
    assert err.value.key == "ops.error.partial_amount"
    assert session.get(Recipient, j.recipient_id).partial_paid_yen == 0
    assert session.exec(select(Payment)).all() == []


def test_partial_payment_needs_a_reason(session):
    j = make_journey(session, amount_yen=1_000)
    org = session.get(Organisation, j.organisation_id)
    with pytest.raises(actions.ActionRefused):
        actions.record_partial_payment(session, make_caller(session, org, "support"), j.recipient_id, 300, "")
    assert session.get(Recipient, j.recipient_id).partial_paid_yen == 0


def test_online_checkout_after_a_partial_payment_charges_what_is_outstanding(session, settings):
    from smspay_app.models import Campaign, Link
    from smspay_app.services import payments
    from smspay_app.services.connections import environment_gateway
    from smspay_app.services.journey import LinkContext

    j = make_journey(session, amount_yen=1_000)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    actions.record_partial_payment(session, caller, j.recipient_id, 400, "振込で一部受領")
    recipient = session.get(Recipient, j.recipient_id)
    ctx = LinkContext(
        link=session.exec(select(Link).where(Link.recipient_id == recipient.id)).first(),
        recipient=recipient,
        campaign=session.get(Campaign, recipient.campaign_id),
        organisation=session.get(Organisation, recipient.organisation_id),
    )
    payment = payments.open_checkout(session, ctx, environment_gateway(settings))
    assert payment.amount_yen == 600


def test_the_recipient_page_says_what_was_paid_and_what_is_left(live_server, session):
    """After a ¥400 partial payment of a ¥1,000 invoice the recipient's page says
    ¥400 was paid and ¥600 is left (the checkout charges ¥600): issue 18 item 11."""
    from tests.helpers import BROWSER_UA, form_to

    j = make_journey(session, amount_yen=1_000)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    actions.record_partial_payment(session, caller, j.recipient_id, 400, "振込で一部受領")
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        form = form_to(client.get(f"/l/{j.token}").text, "/verify")
        fields = dict(form["fields"])
        q_birth, q_number = j.question_ids
        fields[f"q_{q_birth}"] = "1980-01-02"
        fields[f"q_{q_number}"] = "123456"
        assert client.post(form["action"], data=fields).status_code == 303
        page = client.get(f"/l/{j.token}").text
    assert "うち ¥400 は入金済みです。残りのお支払いは ¥600 です。" in page
