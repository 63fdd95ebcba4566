"""The recipient's page for support (issue 15 items 8 and 10, looked at in
Chromium): only the actions that could succeed now are offered (no
支払済みにする, 一部入金, 再発行 or 再送 once paid; no 返金 without a card
payment), and the page lists the payments with what was received and what is
left after a partial payment."""

from __future__ import annotations

from smspay_app.models import Organisation
from smspay_app.services import actions, support
from tests.factories import make_caller, make_journey, sign_in_token
from tests.test_ops_handlers import _state


def test_only_possible_actions_are_offered_and_payments_are_listed(session):
    from smspay_app.pages.recipients import RecipientDetailState

    j = make_journey(session, amount_yen=4400)
    admin = make_caller(session, session.get(Organisation, j.organisation_id), "admin")
    token = sign_in_token(session, admin.email)
    detail = _state(RecipientDetailState, token, recipient_id=str(j.recipient_id))
    RecipientDetailState.load.fn(detail)
    assert detail.offered == ["reissue", "resend", "extend", "cancel", "mark_paid", "record_partial_payment"]
    assert detail.payments == [] and detail.info["received"] == "¥0" and detail.info["outstanding"] == "¥4,400"

    actions.record_partial_payment(session, admin, j.recipient_id, 1000, "窓口で一部入金")
    session.commit()
    RecipientDetailState.load.fn(detail)
    assert detail.info["received"] == "¥1,000" and detail.info["outstanding"] == "¥3,400"
    assert [(p["method"], p["amount"], p["status"]) for p in detail.payments] == [
        ("システム外（窓口・振込など）", "¥1,000", "一部入金")
    ]

    actions.mark_paid_outside(session, admin, j.recipient_id, "銀行振込を確認")
    session.commit()
    RecipientDetailState.load.fn(detail)
    assert detail.offered == ["extend"]  # a manual payment has nothing to refund through the gateway
    assert detail.info["received"] == "¥4,400" and detail.info["outstanding"] == ""
    assert [p["status"] for p in detail.payments] == ["入金済み", "一部入金"]
    assert set(detail.offered) <= set(support.ACTIONS)
