"""Link revocation is written once (``links.revoke_live_links``): whoever
revokes (a reissue, a cancel, the dispatcher replacing the link of a resend),
the link stops working and its verified session ends with it."""

from __future__ import annotations

from contextlib import closing

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


# ---------------------------------------------------------------- issue 18, item 2


def _verified_client(live_server, j):
    """A browser that passed the identity check: its cookie was taken before
    the staff action under test."""
    from tests.helpers import BROWSER_UA

    c = live_server.client(headers={"User-Agent": BROWSER_UA})
    q1, q2 = j.question_ids
    r = c.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"})
    assert r.status_code == 303 and "smspay_s" in c.cookies
    assert "¥12,340" in c.get(f"/l/{j.token}").text
    return c


def _lock_by_wrong_answers(live_server, j):
    from tests.helpers import BROWSER_UA

    q1, q2 = j.question_ids
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as attacker:
        for i in range(5):
            attacker.post(f"/l/{j.token}/verify", data={f"q_{q1}": "1970/1/1", f"q_{q2}": str(i)})


def test_a_session_taken_before_the_lock_does_not_survive_the_unlock(live_server, session):
    """Finding 2 (a locked link's session survived the unlock): while locked
    the cookie got 403, after staff unlock the same cookie opened the invoice
    (200). The lock and the unlock end the link's session: the old cookie
    meets the identity check."""
    from smspay_app.services import actions
    from smspay_app.web import recipient as recipient_web

    recipient_web.post_limiter.reset()
    j = make_journey(session)
    with closing(_verified_client(live_server, j)) as c:
        _lock_by_wrong_answers(live_server, j)
        assert c.get(f"/l/{j.token}").status_code == 403
        assert reload(session, Link, j.link_id).session_hash is None  # the lock ended it
        caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
        actions.unlock_link(session, caller, j.recipient_id, "ご本人確認済み")
        session.commit()
        page = c.get(f"/l/{j.token}")
        assert page.status_code == 200 and "¥12,340" not in page.text and "/verify" in page.text


def test_unlock_ends_a_session_even_when_the_lock_came_from_elsewhere(live_server, session):
    """Finding 2: unlocking ends every session of the link, whatever locked it
    (here a lock set by hand, a session still on the row)."""
    from smspay_app.domain.clock import utcnow
    from smspay_app.services import actions

    j = make_journey(session)
    with closing(_verified_client(live_server, j)) as c:
        link = reload(session, Link, j.link_id)
        link.locked_at = utcnow()
        session.add(link)
        session.commit()
        caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
        actions.unlock_link(session, caller, j.recipient_id, "ご本人確認済み")
        session.commit()
        page = c.get(f"/l/{j.token}")
        assert page.status_code == 200 and "¥12,340" not in page.text


def test_reissue_and_cancel_end_a_session_taken_before(live_server, session):
    """Finding 2: reissuing and cancelling end the link's session (the cookie
    taken before opens neither the old link nor the new one)."""
    from smspay_app.services import actions

    j = make_journey(session)
    caller = make_caller(session, session.get(Organisation, j.organisation_id), "support")
    with closing(_verified_client(live_server, j)) as c:
        actions.reissue_link(session, caller, j.recipient_id, "再発行依頼")
        session.commit()
        assert c.get(f"/l/{j.token}").status_code == 410
        assert reload(session, Link, j.link_id).session_hash is None
        live = session.exec(select(Link).where(Link.recipient_id == j.recipient_id, Link.revoked_at.is_(None))).all()
        assert all(link.session_hash is None for link in live)  # a new link has no session: the cookie opens nothing
    j2 = make_journey(session, phone="+819011112222")
    caller2 = make_caller(session, session.get(Organisation, j2.organisation_id), "support")
    with closing(_verified_client(live_server, j2)) as c:
        actions.cancel_recipient(session, caller2, j2.recipient_id, "解約")
        session.commit()
        page = c.get(f"/l/{j2.token}")
        assert page.status_code == 410 and "¥12,340" not in page.text
        assert reload(session, Link, j2.link_id).session_hash is None
