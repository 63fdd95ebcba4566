"""``python -m smspay_app.admin``: the installation owner's work from a shell,
for scripted installs. Every command goes through services.installation /
services.usage (the same checks and audit rows as the owner's page) and
commits once.

    setup                                  print a one-time set-up link (while there is no owner)
    create-org NAME [--sender-name S] [--timezone TZ] [--support-phone P] [--cap N]
    invite-admin ORG_ID EMAIL [--name NAME]  prints the sign-in link and a temporary password
    suspend ORG_ID [--reason R] / reactivate ORG_ID
    set-cap ORG_ID N                        monthly SMS cap (0: none)
    list                                    organisations (id, status, name)
    usage [--month YYYY-MM] [--org ID] [--lang ja|en]   CSV on standard output
"""

from __future__ import annotations

import argparse
import sys

from smspay_app.db import session_scope
from smspay_app.domain.errors import Refused
from smspay_app.migrate import upgrade_database
from smspay_app.services import installation, usage
from smspay_app.services.settings import SettingsInvalid


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m smspay_app.admin", description="smspay installation admin")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="print a one-time set-up link for the installation owner")
    c = sub.add_parser("create-org", help="create an organisation")
    c.add_argument("name")
    c.add_argument("--sender-name", default="")
    c.add_argument("--timezone", default="Asia/Tokyo")
    c.add_argument("--support-phone", default="")
    c.add_argument("--cap", default="0", help="monthly SMS cap (0: none)")
    i = sub.add_parser("invite-admin", help="invite an organisation's admin (temporary password)")
    i.add_argument("org_id", type=int)
    i.add_argument("email")
    i.add_argument("--name", default="")
    for name in ("suspend", "reactivate"):
        s = sub.add_parser(name, help=f"{name} an organisation")
        s.add_argument("org_id", type=int)
        s.add_argument("--reason", default="")
    cap = sub.add_parser("set-cap", help="set the monthly SMS cap (0: none)")
    cap.add_argument("org_id", type=int)
    cap.add_argument("cap")
    sub.add_parser("list", help="list organisations")
    u = sub.add_parser("usage", help="usage CSV (all organisations, or one)")
    u.add_argument("--month", default="", help="YYYY-MM (default: the current month)")
    u.add_argument("--org", type=int, default=0)
    u.add_argument("--lang", default="ja", choices=("ja", "en"))
    return p


def run(argv: list[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    upgrade_database()
    try:
        with session_scope() as session:
            if args.command == "setup":
                print(installation.new_setup_link(session), file=out)
                return 0
            caller = installation.command_line_caller(session)
            if args.command == "create-org":
                org = installation.create_organisation(
                    session,
                    caller,
                    name=args.name,
                    sender_name=args.sender_name,
                    timezone=args.timezone,
                    support_phone=args.support_phone,
                    monthly_sms_cap=args.cap,
                )
                print(org.id, file=out)
            elif args.command == "invite-admin":
                view, password = installation.invite_admin(session, caller, args.org_id, args.email, args.name)
                print(f"sign-in: {installation.sign_in_url()}", file=out)
                print(f"e-mail: {view.email}", file=out)
                print(f"temporary password: {password}", file=out)
            elif args.command in ("suspend", "reactivate"):
                status = installation.set_suspended(
                    session, caller, args.org_id, args.command == "suspend", reason=args.reason
                )
                print(status, file=out)
            elif args.command == "set-cap":
                print(installation.set_monthly_cap(session, caller, args.org_id, args.cap).monthly_sms_cap, file=out)
            elif args.command == "list":
                for o in installation.list_organisations(session, caller, include_deleted=True):
                    print(f"{o.id}\t{o.status}\t{o.name}", file=out)
            elif args.command == "usage":
                year = month = None
                if args.month:
                    year, month = (int(x) for x in args.month.split("-"))
                ids = [args.org] if args.org else [o.id for o in installation.list_organisations(session, caller)]
                months = [usage.month_usage(session, caller, i, year, month) for i in ids]
                out.write(usage.to_csv(months, args.lang))
    except SettingsInvalid as exc:
        for e in exc.errors:
            print(f"{e.field}: {Refused(e.key, **e.fields).text('en')}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(exc.text("en"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
