"""The organisation's opt-out list: add (queued SMS cancelled, recipients
opted out), remove with a reason (audited), CSV import with row errors, scoped
by organisation."""

from __future__ import annotations

import pytest
from sqlmodel import select

from smspay_app.models import AuditLog, OptOut, Recipient, SendAttempt
from smspay_app.services import optouts, sending
from smspay_app.services.support import SupportError
from tests.factories import make_caller, make_campaign, make_org


def test_add_cancels_queued_sms_and_remove_needs_a_reason(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=2)
    sending.start_sending(session, campaign)
    session.commit()
    caller = make_caller(session, org, "support")
    assert optouts.add_optout(session, caller, "０９０−１０００−００００", "電話で依頼") is True
    assert optouts.add_optout(session, caller, "+819010000000") is False
    session.expire_all()
    statuses = {r.phone_e164: r.status for r in session.exec(select(Recipient))}
    assert statuses == {"+819010000000": "opted_out", "+819010000001": "queued"}
    assert sorted(a.status for a in session.exec(select(SendAttempt))) == ["cancelled", "queued"]
    with pytest.raises(SupportError) as err:
        optouts.add_optout(session, caller, "03-1234", "")
    assert err.value.key.startswith("phone.")
    rows, total = optouts.list_optouts(session, caller)
    assert total == 1 and rows[0].reason == "電話で依頼" and rows[0].created_by == caller.display_name
    assert optouts.list_optouts(session, caller, q="090-1000")[1] == 1
    with pytest.raises(SupportError):
        optouts.remove_optout(session, caller, rows[0].id, "")
    other = make_caller(session, make_org(session, "他社"), "admin", "o@example.com")
    with pytest.raises(SupportError):
        optouts.remove_optout(session, other, rows[0].id, "他社から")
    assert optouts.list_optouts(session, other) == ([], 0)
    optouts.remove_optout(session, caller, rows[0].id, "誤登録のため")
    assert session.exec(select(OptOut)).all() == []
    actions = [
        (a.action, a.reason)
        for a in session.exec(select(AuditLog).where(AuditLog.action.like("optout.%")).order_by(AuditLog.id))
    ]
    assert actions == [("optout.add", "電話で依頼"), ("optout.remove", "誤登録のため")]
    assert "+819010000000" not in str([a.detail for a in session.exec(select(AuditLog))])  # masked


def test_csv_import_reports_bad_rows_and_skips_known(session):
    org = make_org(session)
    caller = make_caller(session, org, "operator")
    optouts.add_optout(session, caller, "090-1111-2222")
    data = "氏名,携帯電話番号\n山田,090-1111-2222\n佐藤,080-3333-4444\n固定,03-1234-5678\n空,\n".encode("cp932")
    report = optouts.import_csv(session, caller, data, "旧システムから移行")
    assert (report.added, report.already, report.rejected) == (1, 1, 2)
    assert [e["row"] for e in report.errors] == ["4", "5"]
    phones = set(session.exec(select(OptOut.phone_e164)))
    assert phones == {"+819011112222", "+818033334444"}
    bare = optouts.import_csv(session, caller, b"09055556666\n09077778888\n")
    assert bare.added == 2
    with pytest.raises(optouts.CsvError):
        optouts.import_csv(session, caller, b"\x89PNG\r\n\x1a\n\x00\x00")
