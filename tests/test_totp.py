"""TOTP two-factor: enrolment, codes (once each, within the window), recovery
codes, the two-step sign-in with limited tries, and enrolment forced by the
organisation. Real SQLite, frozen clock, codes computed with pyotp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.models import AuthSession, RecoveryCode, User
from smspay_app.services import auth, totp
from tests.factories import PASSWORD, make_org, make_user

T0 = datetime(2026, 11, 21, 3, 0, 0)


def _enrolled(session, user) -> list[str]:
    enrolment = totp.begin_enrolment(session, user)
    return totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))


def test_enrolment_gives_qr_and_needs_a_right_code(session):
    org = make_org(session)
    user = make_user(session, org, "admin")
    with clock.frozen(T0):
        enrolment = totp.begin_enrolment(session, user)
        assert enrolment.uri.startswith("otpauth://totp/smspay:admin-")
        assert "secret=" + enrolment.secret in enrolment.uri
        assert enrolment.qr_svg_data_uri.startswith("data:image/svg+xml")
        assert not totp.is_enabled(user)
        with pytest.raises(totp.TotpError) as err:
            totp.confirm_enrolment(session, user, "000000" if totp.code_at(enrolment.secret) != "000000" else "111111")
        assert err.value.key == "account.totp.error.code"
        # The code an authenticator app shows for this secret now (pyotp, independent of our helper).
        app_code = pyotp.TOTP(enrolment.secret).at(T0.replace(tzinfo=UTC))
        codes = totp.confirm_enrolment(session, user, app_code)
    session.refresh(user)
    assert totp.is_enabled(user) and user.totp_pending_secret is None
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = session.exec(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not any(c.replace("-", "") in h or c in h for c in codes for h in stored)


def test_code_window_and_single_use(session):
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0) as c:
        _enrolled(session, user)
        secret = totp.secret_of(user)
        c.tick(timedelta(seconds=60))
        code = totp.code_at(secret)
        assert totp.verify(session, user, code) == "totp"
        assert totp.verify(session, user, code) is None  # replay refused
        c.tick(timedelta(seconds=30))
        # A code from the previous step is still fine (drift) if not used before.
        assert (
            totp.verify(session, user, totp.code_at(secret, clock.utcnow() - timedelta(seconds=30))) is None
        )  # that step was used
        assert totp.verify(session, user, totp.code_at(secret, clock.utcnow() + timedelta(seconds=30))) == "totp"
        c.tick(timedelta(minutes=5))
        assert (
            totp.verify(session, user, totp.code_at(secret, clock.utcnow() - timedelta(minutes=2))) is None
        )  # too old
        # Full-width digits and spaces as people type them.
        c.tick(timedelta(seconds=60))
        code = totp.code_at(secret)
        wide = "".join(chr(ord(ch) + 0xFEE0) for ch in code[:3]) + " " + code[3:]
        assert totp.verify(session, user, wide) == "totp"


def test_recovery_codes_work_once(session):
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0):
        codes = _enrolled(session, user)
        assert totp.recovery_codes_left(session, user) == 10
        assert totp.verify(session, user, codes[0].upper()) == "recovery"
        session.commit()
        assert totp.verify(session, user, codes[0]) is None
        assert totp.recovery_codes_left(session, user) == 9
        assert totp.verify(session, user, "abcde-fghjk") is None


def test_disable_needs_a_code_and_is_refused_when_required(session):
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0) as c:
        _enrolled(session, user)
        c.tick(timedelta(seconds=60))
        with pytest.raises(totp.TotpError):
            totp.disable(session, user, "12345")
        org.require_totp = True
        session.add(org)
        session.commit()
        with pytest.raises(totp.TotpError) as err:
            totp.disable(session, user, totp.code_at(totp.secret_of(user)))
        assert err.value.key == "account.totp.error.required"
        org.require_totp = False
        session.add(org)
        session.commit()
        totp.disable(session, user, totp.code_at(totp.secret_of(user)))
    session.refresh(user)
    assert not totp.is_enabled(user)
    assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).first() is None


def test_sign_in_with_totp_is_two_steps(session):
    org = make_org(session)
    user = make_user(session, org, "admin")
    with clock.frozen(T0) as c:
        codes = _enrolled(session, user)
        sessions_before = len(session.exec(select(AuthSession)).all())
        step = auth.sign_in_start(session, user.email, PASSWORD)
        assert step.kind == "totp" and step.challenge and step.token == ""
        # The password alone opens nothing: no session row, and the old helper refuses.
        assert len(session.exec(select(AuthSession)).all()) == sessions_before
        assert auth.sign_in(session, user.email, PASSWORD) is None
        assert auth.caller_for_token(session, step.challenge) is None
        wrong = auth.sign_in_code(
            session, step.challenge, "000000" if totp.code_at(totp.secret_of(user)) != "000000" else "111111"
        )
        assert wrong.kind == "wrong_code" and wrong.tries_left == 4
        c.tick(timedelta(seconds=30))
        done = auth.sign_in_code(session, step.challenge, totp.code_at(totp.secret_of(user)))
        assert done.kind == "done" and auth.caller_for_token(session, done.token).user_id == user.id
        # The challenge is spent.
        assert auth.sign_in_code(session, step.challenge, totp.code_at(totp.secret_of(user))).kind == "restart"
        # A recovery code also works as the second step.
        step = auth.sign_in_start(session, user.email, PASSWORD)
        assert auth.sign_in_code(session, step.challenge, codes[3]).kind == "done"


def test_wrong_codes_are_limited_and_challenges_expire(session):
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0) as c:
        _enrolled(session, user)
        step = auth.sign_in_start(session, user.email, PASSWORD)
        bad = "000000" if totp.code_at(totp.secret_of(user)) != "000000" else "111111"
        kinds = [auth.sign_in_code(session, step.challenge, bad).kind for _ in range(auth.MAX_CODE_TRIES)]
        assert kinds == ["wrong_code"] * (auth.MAX_CODE_TRIES - 1) + ["restart"]
        c.tick(timedelta(seconds=30))
        assert auth.sign_in_code(session, step.challenge, totp.code_at(totp.secret_of(user))).kind == "restart"
        # A fresh challenge expires after its minutes.
        step = auth.sign_in_start(session, user.email, PASSWORD)
        c.tick(timedelta(minutes=auth.CHALLENGE_MINUTES, seconds=1))
        assert auth.sign_in_code(session, step.challenge, totp.code_at(totp.secret_of(user))).kind == "restart"
        # Restarting does not buy unlimited guesses: 10 failures in 15 minutes throttle.
        step = auth.sign_in_start(session, user.email, PASSWORD)
        for _ in range(auth.MAX_CODE_TRIES):
            auth.sign_in_code(session, step.challenge, bad)
        assert auth.sign_in_start(session, user.email, PASSWORD).kind == "throttled"
        c.tick(auth.CODE_FAILURE_WINDOW + timedelta(seconds=1))
        assert auth.sign_in_start(session, user.email, PASSWORD).kind == "totp"


def test_organisation_requiring_totp_forces_enrolment_at_sign_in(session):
    org = make_org(session, require_totp=True)
    user = make_user(session, org)
    with clock.frozen(T0) as c:
        step = auth.sign_in_start(session, user.email, PASSWORD)
        assert step.kind == "enrol" and step.token == ""
        assert auth.sign_in(session, user.email, PASSWORD) is None
        enrolment = auth.sign_in_enrol_begin(session, step.challenge)
        # Showing the page again keeps the same secret (the QR already scanned still works).
        assert auth.sign_in_enrol_begin(session, step.challenge).secret == enrolment.secret
        assert auth.sign_in_enrol_finish(session, step.challenge, "12x456").kind == "wrong_code"
        done = auth.sign_in_enrol_finish(session, step.challenge, totp.code_at(enrolment.secret))
        assert done.kind == "done" and len(done.recovery_codes) == 10
        assert auth.caller_for_token(session, done.token) is not None
        session.refresh(user)
        assert totp.secret_of(user) == enrolment.secret
        # Next time: a code, not enrolment.
        c.tick(timedelta(seconds=30))
        assert auth.sign_in_start(session, user.email, PASSWORD).kind == "totp"
        # An enrol challenge cannot be used as a code challenge and vice versa.
        step = auth.sign_in_start(session, user.email, PASSWORD)
        assert auth.sign_in_enrol_begin(session, step.challenge) is None


def test_wrong_codes_on_the_account_page_count_toward_the_same_limit(session):
    """Turning TOTP off or making new recovery codes needs a code; wrong ones
    count with the sign-in's, so a stolen session cannot guess without end."""
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0) as c:
        _enrolled(session, user)
        c.tick(timedelta(seconds=60))
        for _ in range(auth.MAX_CODE_FAILURES_PER_WINDOW):
            with pytest.raises(totp.TotpError) as err:
                totp.regenerate_recovery_codes(
                    session, user, "000000" if totp.code_at(totp.secret_of(user)) != "000000" else "111111"
                )
            assert err.value.key == "account.totp.error.code"
        with pytest.raises(totp.TotpError) as err:
            totp.disable(session, user, totp.code_at(totp.secret_of(user)))  # even the right code waits now
        assert err.value.key == "account.totp.error.throttled"
        assert auth.sign_in_start(session, user.email, PASSWORD).kind == "throttled"  # and so does sign-in
        c.tick(auth.CODE_FAILURE_WINDOW + timedelta(seconds=30))
        totp.disable(session, user, totp.code_at(totp.secret_of(user)))
    session.refresh(user)
    assert not totp.is_enabled(user)


def test_secrets_are_encrypted_at_rest(session):
    """A database dump alone does not reveal the TOTP secret: the column holds
    an authenticated ciphertext keyed from the application secret."""
    org = make_org(session)
    user = make_user(session, org)
    with clock.frozen(T0):
        enrolment = totp.begin_enrolment(session, user)
        assert enrolment.secret not in (user.totp_pending_secret or "")
        _ = totp.confirm_enrolment(session, user, totp.code_at(enrolment.secret))
    stored = session.exec(select(User.totp_secret).where(User.id == user.id)).one()
    assert stored.startswith("fernet:") and enrolment.secret not in stored
    assert totp.secret_of(user) == enrolment.secret
