"""Test data for the REST API tests: an organisation with an admin, API keys
made through the real service (the full secret returned once), and a client
that speaks to the live server with a key."""

from __future__ import annotations

import uuid

import httpx
from sqlmodel import Session

from smspay_app.models import Organisation
from smspay_app.services import api_keys, auth
from smspay_app.services.auth import Caller
from tests.factories import make_org


def make_admin(session: Session, org: Organisation | None = None, email: str | None = None) -> Caller:
    org = org or make_org(session)
    user = auth.create_user(
        session, org, email or f"admin-{uuid.uuid4().hex[:8]}@example.com", "correct-horse-battery", role="admin"
    )
    session.commit()
    return Caller(
        user_id=user.id,
        organisation_id=org.id,
        role="admin",
        email=user.email,
        display_name="admin",
        language="ja",
        organisation_name=org.name,
    )


def make_key(session: Session, admin: Caller, scopes=("read", "send", "manage"), allowlist="", **kw) -> str:
    _, secret = api_keys.create_key(session, admin, "test key", list(scopes), allowlist, **kw)
    session.commit()  # the service flushes; the live server reads it on its own connection
    return secret


def api_client(live_server, key: str, **headers) -> httpx.Client:
    return live_server.client(headers={"Authorization": f"Bearer {key}", **headers})


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


CAMPAIGN = {
    "name": "電話注文",
    "sms_template": "{{name}}様 ご注文のお支払いはこちら {{link}}",
    "page_title": "ご注文のお支払い",
    "page_message": "{{name}}様、ご注文ありがとうございます。",
    "amount_yen": 4_980,
    "questions": [{"label": "生年月日", "column": "birth_date", "kind": "date"}],
}
