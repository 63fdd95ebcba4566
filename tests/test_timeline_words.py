"""The recipient timeline in words (issue 15 item 8): no raw internal codes
("ua=mobile · method=GET", "reason=wrong_answers", "initial #1 · delivered ·
SM7b…") in either language."""

from __future__ import annotations

from datetime import datetime

import pytest

from smspay_app.services.recipients import TimelineEntry

AT = datetime(2026, 12, 1, 0, 0)
ENTRIES = [
    TimelineEntry(AT, "open", {"link_id": 1, "ua": "mobile", "method": "GET", "state": "question"}),
    TimelineEntry(AT, "link_locked", {"link_id": 1, "reason": "wrong_answers"}),
    TimelineEntry(
        AT,
        "sms_delivered",
        {"attempt_id": 3, "status": "delivered", "source": "callback"},
        attempt={
            "kind": "initial",
            "status": "delivered",
            "provider_message_id": "SM7b0123456789abcdef",
            "error_code": "",
            "error_message": "",
            "try_number": 1,
        },
    ),
    TimelineEntry(AT, "payment_succeeded", {"payment_id": 9, "amount_yen": 3300, "method": "card"}),
]


@pytest.mark.parametrize(
    "lang, expected",
    [
        (
            "ja",
            ["スマートフォン", "回答の誤りが上限に達したため", "最初のSMS（1回目）: 到達", "クレジットカード · ¥3,300"],
        ),
        ("en", ["Smartphone", "Too many wrong answers", "First SMS (try 1): Delivered", "Card · ¥3,300"]),
    ],
)
def test_details_in_words(lang, expected):
    from smspay_app.pages.recipients import RecipientDetailState

    state = RecipientDetailState(_reflex_internal_init=True)
    state.lang = lang
    rows = [state._event_row(e, "Asia/Tokyo")["detail"] for e in ENTRIES]
    assert rows == expected
    for text in rows:
        for raw in ("ua=", "method=", "reason=", "GET", "SM7b", "#1", "wrong_answers", "initial"):
            assert raw not in text


def test_unlock_is_offered_only_for_a_locked_link(session):
    """Issue 15 item 10: no ロック解除 on a link that is not locked."""
    from datetime import datetime

    from smspay_app.models import Link, Organisation
    from smspay_app.pages.recipients import RecipientDetailState
    from tests.factories import make_caller, make_journey, sign_in_token
    from tests.test_ops_handlers import _state

    j = make_journey(session)
    staff = make_caller(session, session.get(Organisation, j.organisation_id), "operator")
    token = sign_in_token(session, staff.email)
    detail = _state(RecipientDetailState, token, recipient_id=str(j.recipient_id))
    RecipientDetailState.load.fn(detail)
    assert detail.found and detail.has_locked is False
    link = session.get(Link, j.link_id)
    link.locked_at = datetime(2026, 1, 1)
    session.add(link)
    session.commit()
    RecipientDetailState.load.fn(detail)
    assert detail.has_locked is True


def test_preview_samples_are_realistic_and_encoding_is_in_words():
    """Issue 15 items 7 and 8: before import {{amount}} and {{due_date}} are
    realistic values (not 20 あ each), and the editor says 日本語（全角）, not UCS-2."""
    from smspay_app.i18n import t
    from smspay_app.services import sms_message

    fields = sms_message.sample_fields("{{name}}様 {{amount}}円を{{due_date}}までに {{link}}", "ja")
    assert fields == {"name": "山田 太郎", "amount": "3,300", "due_date": "12月25日"}
    assert t("sms.encoding.UCS-2", "ja") == "日本語（全角）" and "UCS" not in t("sms.encoding.UCS-2", "en")
