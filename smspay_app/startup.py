"""Prepare the database before the app starts: newest schema (Alembic), demo
organisation and admin on first start (without the demo: a one-time set-up
link for the installation owner); prints how to sign in."""

from __future__ import annotations

from smspay_app.db import session_scope
from smspay_app.migrate import upgrade_database
from smspay_app.services import installation
from smspay_app.services.auth import ensure_demo
from smspay_app.settings import ProviderSecretMissing, get_settings, require_provider_secrets


def main() -> None:
    settings = get_settings()
    try:
        require_provider_secrets(settings)
    except ProviderSecretMissing as exc:
        raise SystemExit(str(exc)) from None
    upgrade_database()
    created = None
    setup_link = ""
    with session_scope() as session:
        if settings.seed_demo:
            created = ensure_demo(session)
        elif installation.needs_setup(session):
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
        print(f"  SMS simulator:     {base}/sim/twilio/inbox")
    if settings.payment_provider == "sandbox":
        print(f"  payment sandbox:   {base}/sim/stripe")
    print("=" * 64, flush=True)


if __name__ == "__main__":
    main()
