"""Issue 18, item 10 (Medium): the demo's defaults do not reach the network.

The attack run found ``admin@example.com`` / ``smspay-demo`` signing in as a
full admin with no forced change, ``run.sh`` listening on 0.0.0.0, the
unauthenticated ``/sim/twilio/inbox`` listing live link tokens and codes, and
``/_reset``, ``/_control`` needing no authentication. The one-command demo
stays, bound to loopback unless asked otherwise; the simulators answer this
machine or a signed-in admin (guarded where they are mounted); and the demo
password must be changed at first sign-in when the app is reachable from
elsewhere."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from smspay_app.services import auth
from smspay_app.settings import get_settings
from smspay_app.web.upload_guard import SESSION_COOKIE
from tests.factories import make_org, signed_in

ROOT = Path(__file__).resolve().parent.parent
REMOTE = ("203.0.113.9", 40000)

SIM_PATHS = [
    ("GET", "/sim/twilio/inbox"),
    ("GET", "/sim/twilio/inbox/+819012345678"),
    ("POST", "/sim/twilio/_reset"),
    ("POST", "/sim/twilio/_control"),
    ("GET", "/sim/twilio/_stats"),
    ("POST", "/sim/twilio/_reply"),
    ("GET", "/sim/twilio/2010-04-01/Accounts/ACsimulator0000000000000000000000/Messages.json"),
    ("GET", "/sim/stripe/pending"),
    ("GET", "/sim/stripe/_deliveries"),
]


def test_run_sh_listens_on_loopback_unless_asked():
    """Finding 10: ``run.sh`` listened on 0.0.0.0 (Reflex's default)."""
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert 'SMSPAY_HOST="${SMSPAY_HOST:-127.0.0.1}"' in script
    assert '--backend-host "$SMSPAY_HOST"' in script


async def _status(app, method: str, path: str, *, client=REMOTE, cookie: str | None = None) -> int:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.example:3000") as c:
        if cookie:
            c.cookies.set(SESSION_COOKIE, cookie)
        return (await c.request(method, path)).status_code


@pytest.mark.parametrize(("method", "path"), SIM_PATHS)
async def test_the_simulators_refuse_other_machines_without_an_admin_session(settings, session, method, path):
    """Finding 10: inbox (live link tokens and codes), ``_reset``,
    ``_control`` and the rest answer 403 to another machine."""
    from smspay_app.web.app import build_web_app

    app = build_web_app()
    assert await _status(app, method, path) == 403
    operator, _ = signed_in(session, make_org(session), "operator")
    assert await _status(app, method, path, cookie=operator) == 403


async def test_the_simulators_answer_this_machine_and_a_signed_in_admin(settings, session):
    from smspay_app.web.app import build_web_app

    app = build_web_app()
    assert await _status(app, "GET", "/sim/twilio/inbox", client=("127.0.0.1", 5000)) == 200
    assert await _status(app, "GET", "/sim/twilio/inbox", client=("::1", 5000)) == 200
    admin, _ = signed_in(session, make_org(session), "admin")
    assert await _status(app, "GET", "/sim/twilio/inbox", cookie=admin) == 200
    assert await _status(app, "GET", "/sim/stripe/pending", cookie=admin) == 200


async def test_the_sandbox_checkout_page_stays_open_to_the_recipients_phone(settings):
    """The recipient pays on the sandbox's hosted page from their phone: it is
    not behind the guard (an unknown session id is simply not found)."""
    from smspay_app.web.app import build_web_app

    assert await _status(build_web_app(), "GET", "/sim/stripe/pay/cs_unknown") != 403


def _demo_sign_in(session) -> auth.SignInStep:
    auth.ensure_demo(session)
    session.commit()
    settings = get_settings()
    step = auth.sign_in_start(session, settings.demo_email, settings.demo_password)
    session.commit()
    assert step is not None and step.kind == "done"
    return step


@pytest.mark.parametrize(
    "env",
    [{"SMSPAY_HOST": "0.0.0.0"}, {"SMSPAY_PUBLIC_BASE_URL": "http://192.168.1.20:3000"}],
)
def test_the_demo_password_must_be_changed_when_the_app_is_reachable_from_elsewhere(
    settings, session, monkeypatch, env
):
    """Finding 10: the published demo password opened a full admin with no
    forced change. Reachable from elsewhere, its first sign-in opens only the
    account page (``must_change_password``: no permission until changed)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    assert get_settings().reachable_from_elsewhere
    step = _demo_sign_in(session)
    assert step.caller.must_change_password and not step.caller.can("campaign.view")
    get_settings.cache_clear()


def test_the_demo_on_loopback_keeps_its_one_command_start(settings, session, monkeypatch):
    monkeypatch.setenv("SMSPAY_PUBLIC_BASE_URL", "http://localhost:3000")
    get_settings.cache_clear()
    assert not get_settings().reachable_from_elsewhere
    step = _demo_sign_in(session)
    assert not step.caller.must_change_password and step.caller.can("settings.manage")
    get_settings.cache_clear()
