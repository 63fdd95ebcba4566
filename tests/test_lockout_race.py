"""Issue 18, item 1 (High): the wrong-answer lockout, the one-time code's tries
and the TOTP guess limit hold under concurrency.

The attack run sent 50 concurrent wrong birth dates to one link with the right
one 11th: the counter reached 12-19 with a limit of 5 and the right answer
verified in 13 of 19 runs (answers were compared against a context loaded
before the lock); one-time codes overshot their try counter (5 and 9 for a
limit of 5). These tests replay it over real HTTP against the live server: 50
parallel POSTs released together by a barrier. The acceptance asks 20 runs of
50; the suite runs ``SMSPAY_RACE_RUNS`` (default 2) to stay quick, and
``bench/bench_lockout_race.py`` runs this module with 20."""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select

from smspay_app import db
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.models import Link, Recipient, TimelineEvent
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, form_to, reload

RUNS = int(os.environ.get("SMSPAY_RACE_RUNS", "2"))
PARALLEL = 50


@pytest.fixture(autouse=True)
def _no_address_limit(monkeypatch):
    """The per-address POST limit (30 a minute) would answer most of the 50
    with 429: lift it, so every request reaches the identity check."""
    monkeypatch.setattr(recipient_web, "post_limiter", SlidingWindowLimiter(100_000, 60.0))
    journey.reset_visit_dedup()


def _race(base_url: str, path: str, bodies: list[dict]) -> list[httpx.Response]:
    """POST every body to ``path`` at once (one connection each, a barrier
    releases them together)."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=60, headers={"User-Agent": BROWSER_UA}) as c:
            barrier.wait()
            return c.post(path, data=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def _events(recipient_id: int) -> list[TimelineEvent]:
    with Session(db.get_engine()) as s:
        return list(
            s.exec(select(TimelineEvent).where(TimelineEvent.recipient_id == recipient_id).order_by(TimelineEvent.id))
        )


@pytest.mark.parametrize("run", range(RUNS))
def test_fifty_parallel_wrong_answers_never_pass_the_limit_and_the_right_one_never_verifies_after_it(
    live_server, session, run
):
    """Finding 1 (lockout race): 50 parallel answers, the right one 11th. The
    counter stops at the limit exactly, the link locks once, and the right
    answer verifies only if it was counted before the limit was reached."""
    limit = 5
    j = make_journey(session, max_wrong_answers=limit)
    q1, q2 = j.question_ids
    bodies = [{f"q_{q1}": "1970/1/1", f"q_{q2}": str(i)} for i in range(PARALLEL)]
    bodies[10] = {f"q_{q1}": "1980/1/2", f"q_{q2}": "123456"}
    responses = _race(live_server.base_url, f"/l/{j.token}/verify", bodies)
    assert all(r.status_code in (200, 303, 403) for r in responses), [r.status_code for r in responses]
    link = reload(session, Link, j.link_id)
    recipient = reload(session, Recipient, j.recipient_id)
    assert link.failed_attempts == limit
    assert recipient.failed_answer_count == limit
    assert link.locked_at is not None and recipient.status in ("locked", "verified")
    events = _events(j.recipient_id)
    kinds = [e.kind for e in events]
    assert kinds.count("verify_failed") == limit
    assert kinds.count("locked") == 1
    # wrong answers told "try again" or "locked": never more "wrong" pages than tries.
    # Since issue 14 every answer is a 303 (post/redirect/get); where it leads says the outcome.
    outcomes = [_outcome(r) for r in responses]
    assert set(outcomes) <= {"verified", "wrong", "refused"}, outcomes
    assert outcomes.count("wrong") <= limit - 1
    if "verified" in kinds:
        assert kinds.index("verified") < kinds.index("locked")  # counted before the limit, not after
        assert outcomes.count("verified") == 1
        assert outcomes[10] == "verified"
    else:
        assert outcomes[10] == "refused"  # it found the link locked


def _outcome(response) -> str:
    """Where an answer's 303 leads: the message (verified, no query), the
    identity page with ``e=wrong``, or the link's own page (locked)."""
    location = response.headers.get("location", "")
    if response.status_code != 303:
        return str(response.status_code)
    if "?" not in location:
        return "verified"
    return "wrong" if "e=wrong" in location else "refused"


@pytest.mark.parametrize("run", range(RUNS))
def test_fifty_parallel_one_time_codes_never_pass_the_code_tries(live_server, session, settings, run):
    """Finding 1 (one-time code tries overshot to 5 and 9 for a limit of 5):
    50 parallel codes, the real one 3rd. At most ``OTP_MAX_TRIES`` are
    evaluated; the real one verifies only if it came within them."""
    j = make_journey(session, verification_mode="otp", answers={}, phone=f"+8190{run:04d}5678")
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as c:
        page = c.get(f"/l/{j.token}")
        send = form_to(page.text, "/otp")
        sent = c.post(send["action"], data=send["fields"], follow_redirects=True)  # PRG (issue 14)
        assert "確認コードをSMSで送りました" in sent.text
        listing = c.get(
            f"/sim/twilio/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
            params={"To": f"+8190{run:04d}5678"},
            auth=(settings.twilio_account_sid, settings.twilio_auth_token),
        ).json()["messages"]
        code = re.search(r"\b(\d{6})\b", listing[0]["body"]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    bodies = [{"code": wrong} for _ in range(PARALLEL)]
    bodies[2] = {"code": code}
    responses = _race(live_server.base_url, f"/l/{j.token}/verify", bodies)
    assert all(r.status_code in (200, 303) for r in responses), [r.status_code for r in responses]
    link = reload(session, Link, j.link_id)
    assert link.otp_tries <= journey.OTP_MAX_TRIES
    kinds = [e.kind for e in _events(j.recipient_id)]
    assert kinds.count("verify_failed") <= journey.OTP_MAX_TRIES
    # a wrong code is a 303 too since issue 14 (post/redirect/get), back to the link with ?e=
    verified = [r for r in responses if r.status_code == 303 and "?" not in r.headers["location"]]
    assert len(verified) <= 1
    if verified:
        assert responses[2] in verified
        assert kinds.count("verify_failed") <= journey.OTP_MAX_TRIES - 1
    else:
        assert kinds.count("verify_failed") == journey.OTP_MAX_TRIES


def _totp_user(session):
    from tests.factories import make_org, make_user

    org = make_org(session)
    user = make_user(session, org)
    from smspay_app.services import totp

    enrolment = totp.begin_enrolment(session, user)
    totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))
    session.commit()
    return user


def test_prepared_challenges_do_not_buy_more_totp_guesses(session, settings):
    """Finding 4 (second-factor limit bypassed by preparing challenges): 41
    password steps first, then wrong codes through each; a new password step
    said ``throttled`` yet the last prepared challenge accepted the right
    code. The limit is per user, across challenges."""
    from datetime import datetime

    from smspay_app.domain import clock
    from smspay_app.models import AuditLog
    from smspay_app.services import auth, totp
    from tests.factories import PASSWORD

    with clock.frozen(datetime(2030, 1, 1, 9, 0, 0)):
        user = _totp_user(session)
        challenges = [auth.sign_in_start(session, user.email, PASSWORD).challenge for _ in range(41)]
        session.commit()
        right = totp.code_at(totp.secret_of(user))
        wrong = "000000" if right != "000000" else "111111"
        kinds = [auth.sign_in_code(session, ch, wrong).kind for ch in challenges[:-1] for _ in range(2)]
        session.commit()
        failed = session.exec(select(AuditLog).where(AuditLog.action == "auth.code_failed")).all()
        assert len(failed) == auth.MAX_CODE_FAILURES_PER_WINDOW
        assert kinds.count("throttled") == len(kinds) - auth.MAX_CODE_FAILURES_PER_WINDOW
        assert auth.sign_in_code(session, challenges[-1], right).kind == "throttled"


@pytest.mark.parametrize("run", range(RUNS))
def test_fifty_parallel_totp_codes_across_challenges_never_pass_the_user_limit(session, settings, run):
    """Finding 1 and 4 together (TOTP under concurrency): 12 challenges
    prepared, then 50 codes checked at once in 50 threads (own sessions, the
    real database), the right code among them. At most
    ``MAX_CODE_FAILURES_PER_WINDOW`` wrong codes are evaluated, and the right
    code signs in only if it was checked before the limit was reached. (The
    sign-in form is a Reflex event, not an HTTP form: the service is raced.)"""
    from datetime import datetime

    from smspay_app.domain import clock
    from smspay_app.models import AuditLog
    from smspay_app.services import auth, totp
    from tests.factories import PASSWORD

    with clock.frozen(datetime(2030, 1, 1, 9, 0, 0)):
        user = _totp_user(session)
        challenges = [auth.sign_in_start(session, user.email, PASSWORD).challenge for _ in range(12)]
        session.commit()
        right = totp.code_at(totp.secret_of(user))
        wrong = "000000" if right != "000000" else "111111"
        codes = [(challenges[i % len(challenges)], wrong) for i in range(PARALLEL)]
        codes[20] = (challenges[-1], right)
        barrier = threading.Barrier(PARALLEL)

        def one(item):
            challenge, code = item
            with Session(db.get_engine(), expire_on_commit=False) as s:
                barrier.wait()
                step = auth.sign_in_code(s, challenge, code)
                s.commit()
                return step.kind

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            kinds = list(pool.map(one, codes))
    rows = session.exec(
        select(AuditLog).where(AuditLog.action.in_(("auth.code_failed", "auth.sign_in"))).order_by(AuditLog.id)
    ).all()
    actions = [r.action for r in rows]
    assert actions.count("auth.code_failed") <= auth.MAX_CODE_FAILURES_PER_WINDOW
    if "done" in kinds:
        assert kinds.count("done") == 1
        assert actions[: actions.index("auth.sign_in")].count("auth.code_failed") < auth.MAX_CODE_FAILURES_PER_WINDOW
    else:
        assert actions.count("auth.code_failed") == auth.MAX_CODE_FAILURES_PER_WINDOW
