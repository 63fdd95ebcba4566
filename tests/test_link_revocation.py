"""Link revocation is written once (``links.revoke_live_links``): whoever
revokes (a reissue, a cancel, the dispatcher replacing the link of a resend),
the link stops working and its verified session ends with it."""

from __future__ import annotations

from sqlmodel import select

from smspay_app.models import Link, Organisation
from smspay_app.services import journey, links, support
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_caller, make_journey
from tests.helpers import reload


def _verified(session, j):
    ctx = journey.load_context(session, j.token)
    cookie = journey.start_session(session, ctx)
    session.commit()
    assert journey.session_valid(journey.load_context(session, j.token), cookie)
    return cookie


def test_revoke_live_links_ends_the_session_in_one_statement(session):
    j = make_journey(session)
    _verified(session, j)
    assert links.revoke_live_links(session, [j.recipient_id], "cancelled") == 1
    link = session.get(Link, j.link_id)  # the loaded object sees the UPDATE
    assert link.revoked_reason == "cancelled" and link.session_hash is None and link.session_expires_at is None
    assert links.revoke_live_links(session, [j.recipient_id], "cancelled") == 0  # nothing live any more


async def test_the_dispatcher_replacing_a_link_ends_its_session(live_server, session):
    j = make_journey(session)
    cookie = _verified(session, j)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    support.resend(session, caller, j.recipient_id, "再送依頼")
    session.commit()
    assert await run_dispatcher_once() == 1
    old = reload(session, Link, j.link_id)
    assert old.revoked_reason == "replaced" and old.session_hash is None and old.session_expires_at is None
    assert not journey.session_valid(journey.load_context(session, j.token), cookie)
    live = session.exec(select(Link).where(Link.recipient_id == j.recipient_id, Link.revoked_at.is_(None))).all()
    assert len(live) == 1 and live[0].id != j.link_id
