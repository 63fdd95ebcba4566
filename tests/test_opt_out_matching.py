"""Opt-out matching (issue 20, item 6): a keyword must be the whole reply
(after trimming punctuation and polite endings) or clearly standalone; a reply
that only mentions one goes to the desk. Was: ``is_opt_out("ロックを解除してください")``
and ``"停止を解除して"`` were opt-outs, so a locked recipient asking for help was
opted out and staff could then neither reissue nor resend."""

from __future__ import annotations

import pytest
from sqlmodel import select

from smspay_app.domain.opt_out import OptOutVerdict
from smspay_app.models import InboundMessage, OptOut, Recipient
from smspay_app.services import replies
from tests.factories import make_campaign, make_org

OPT_OUT, UNSURE, NONE = OptOutVerdict.OPT_OUT, OptOutVerdict.UNSURE, OptOutVerdict.NONE

REPLIES = [
    # certain opt-outs: the whole reply is a keyword, politely or not
    ("STOP", OPT_OUT),
    ("stop", OPT_OUT),
    ("Stop.", OPT_OUT),
    ("ＳＴＯＰ", OPT_OUT),
    ("  STOP!! ", OPT_OUT),
    ("Please stop", OPT_OUT),
    ("STOP please", OPT_OUT),
    ("UNSUBSCRIBE", OPT_OUT),
    ("停止", OPT_OUT),
    ("停止。", OPT_OUT),
    ("「停止」", OPT_OUT),
    ("配信停止", OPT_OUT),
    ("配信停止してください", OPT_OUT),
    ("配信停止をお願いします。", OPT_OUT),
    ("配信停止希望", OPT_OUT),
    ("停止して下さい", OPT_OUT),
    ("お手数ですが配信停止お願いします", OPT_OUT),
    ("配信停止\nよろしくお願いします", OPT_OUT),
    ("解除", OPT_OUT),
    ("配信解除してください", OPT_OUT),
    # not certain: the desk decides, nothing changes automatically
    ("ロックを解除してください", UNSURE),
    ("停止を解除して", UNSURE),
    ("止めてください", UNSURE),
    ("もう送らないでください", UNSURE),
    ("配信停止の方法を教えてください", UNSURE),
    ("支払いを停止したい", UNSURE),
    ("Stop sending me these", UNSURE),
    ("Don't stop", UNSURE),
    ("停止\n山田", UNSURE),
    ("解除できません", UNSURE),
    ("cancel my order?", UNSURE),
    # ordinary replies
    ("支払いました", NONE),
    ("ありがとうございます", NONE),
    ("明日払います", NONE),
    ("OK", NONE),
    ("はい", NONE),
    ("ロックされて入れません", NONE),
    ("いつまでに払えばいいですか？", NONE),
    ("Paid, thanks", NONE),
    ("STOPPED BY THE SHOP YESTERDAY", NONE),
    ("", NONE),
]


@pytest.mark.parametrize(("body", "expected"), REPLIES)
def test_opt_out_matching(body, expected):
    assert replies.opt_out_verdict(body) == expected
    assert replies.is_opt_out(body) == (expected == OPT_OUT)


def test_the_table_covers_at_least_thirty_replies():
    assert len(REPLIES) >= 30


def test_an_unsure_reply_is_flagged_for_the_desk_and_opts_nobody_out(session):
    org = make_org(session)
    campaign = make_campaign(session, org, 1, status="active")
    recipient = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id)).one()
    message = replies.handle_inbound(
        session, from_phone=recipient.phone_e164, to_phone="", body="ロックを解除してください"
    )
    session.commit()
    assert message is not None and not message.is_opt_out and message.opt_out_unsure
    session.refresh(recipient)
    assert recipient.status != "opted_out"
    assert session.exec(select(OptOut)).all() == []
    stop = replies.handle_inbound(session, from_phone=recipient.phone_e164, to_phone="", body="配信停止してください")
    session.commit()
    assert stop.is_opt_out and not stop.opt_out_unsure
    session.refresh(recipient)
    assert recipient.status == "opted_out"
    assert len(session.exec(select(InboundMessage)).all()) == 2
