"""Prepare the database before the app starts: newest schema (Alembic), demo
organisation and admin on first start (without the demo: a one-time set-up
link for the installation owner); prints how to sign in.

``scripts/run.sh`` runs ``--prepare`` before the app starts, then
``--announce`` beside it: the sign-in address is printed only once the app
answers (the first production build takes a minute or two, and an address
that does not open yet reads as broken). Without a flag: both at once."""

from __future__ import annotations

import argparse
import time

import httpx

from smspay_app.db import session_scope
from smspay_app.migrate import upgrade_database
from smspay_app.services import installation
from smspay_app.services.auth import ensure_demo
from smspay_app.settings import (
    ProviderSecretMissing,
    StorageNotShared,
    get_settings,
    require_provider_secrets,
    require_shared_storage,
)

# The sandbox's page that people open (the konbini / bank-transfer payments
# waiting to be marked paid); the sandbox has no page at its root.
SANDBOX_PAGE = "/sim/stripe/pending"
SIMULATOR_PAGE = "/sim/twilio/inbox"


def prepare() -> bool:
    """Schema and demo data; True when the demo admin was created now."""
    settings = get_settings()
    try:
        require_provider_secrets(settings)
        require_shared_storage(settings)
    except (ProviderSecretMissing, StorageNotShared) as exc:
        raise SystemExit(str(exc)) from None
    upgrade_database()
    with session_scope() as session:
        return bool(ensure_demo(session)) if settings.seed_demo else False


def app_answers(url: str) -> bool:
    """True once anything answers at ``url`` over HTTP (below 500)."""
    try:
        return httpx.get(url, timeout=2.0).status_code < 500
    except httpx.HTTPError:
        return False


def wait_for_app(url: str, timeout_seconds: float, poll_seconds: float = 1.0) -> bool:
    # Counted tries, not a clock deadline: a shifted clock (faketime) cannot stretch it.
    for _ in range(max(1, int(timeout_seconds / poll_seconds) + 1)):
        if app_answers(url):
            return True
        time.sleep(poll_seconds)
    return False


def banner(created: bool = False) -> None:
    settings = get_settings()
    setup_link = ""
    if not settings.seed_demo:
        with session_scope() as session:
            if installation.needs_setup(session):
                setup_link = installation.new_setup_link(session)
    base = settings.public_base_url
    print("=" * 64)
    print(f"  smspay admin:      {base}/login")
    if settings.seed_demo:
        print(
            f"  demo sign-in:      {settings.demo_email} / {settings.demo_password}"
            + ("  (created now)" if created else "")
        )
    if setup_link:
        print(f"  first set-up:      {setup_link}")
        print("                     (one-time link: create the installation owner's account)")
    if settings.sms_provider == "simulator":
        print(f"  SMS simulator:     {base}{SIMULATOR_PAGE}")
    if settings.payment_provider == "sandbox":
        print(f"  payment sandbox:   {base}{SANDBOX_PAGE}")
    print("=" * 64, flush=True)


def announce(timeout_seconds: float = 900.0, poll_seconds: float = 1.0) -> bool:
    """Wait until the app answers, then print the banner; say so if it never does."""
    base = get_settings().public_base_url
    if wait_for_app(f"{base}/login", timeout_seconds, poll_seconds):
        banner()
        return True
    print(f"smspay: the app did not answer at {base} within {timeout_seconds:.0f} s; see the log above.", flush=True)
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Prepare smspay and print how to sign in")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--prepare", action="store_true", help="schema and demo data only")
    step.add_argument("--announce", action="store_true", help="print the banner once the app answers")
    args = parser.parse_args(argv or [])
    if args.announce:
        announce()
        return
    created = prepare()
    if args.prepare:
        print("smspay: database ready; the sign-in address is printed once the app answers.", flush=True)
        return
    banner(created)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
