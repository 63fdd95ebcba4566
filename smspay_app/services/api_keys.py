"""API keys: created and revoked by admins, shown once, stored hashed, found by
their public prefix; scopes (read, send, manage); an IP allowlist per key
(IPv4/IPv6 addresses and CIDR ranges) that an organisation can make
mandatory. ``authenticate`` turns a presented key and client address into an
``ApiCaller`` that the same services as the admin UI accept."""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import Refused
from smspay_app.domain.security import hash_token, new_token
from smspay_app.models import ApiKey, AuditLog, Organisation
from smspay_app.models.api import API_SCOPES
from smspay_app.services.auth import Caller

KEY_PREFIX = "spk_"
# What each scope lets a key do, in the admin permission vocabulary.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"campaign.view"}),
    "send": frozenset({"campaign.view", "campaign.send", "recipient.support"}),
    "manage": frozenset({"campaign.view", "campaign.edit", "campaign.send"}),
}
MAX_ALLOWLIST_ENTRIES = 50


class ApiKeyInvalid(Refused, ValueError):
    """Bad input when creating a key: ``key`` is an i18n key, ``fields`` fill it."""


@dataclass(frozen=True)
class ApiCaller(Caller):
    """A caller acting through an API key: permissions come from its scopes."""

    api_key_id: int = 0
    scopes: frozenset[str] = field(default_factory=frozenset)
    rate_limit_per_minute: int = 120

    def can(self, permission: str) -> bool:
        return any(permission in SCOPE_PERMISSIONS.get(s, ()) for s in self.scopes)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


# ------------------------------------------------------------------ allowlist


def parse_allowlist(text: str | list[str]) -> list[str]:
    """Addresses and CIDR ranges (comma, space or newline separated) in
    canonical form. Raises ``ApiKeyInvalid`` naming the first bad entry."""
    items = text if isinstance(text, list) else text.replace(",", " ").split()
    out: list[str] = []
    for raw in items:
        raw = str(raw).strip()
        if not raw:
            continue
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise ApiKeyInvalid("dev.error.bad_address", entry=raw[:60]) from None
        canonical = str(net.network_address) if net.num_addresses == 1 else str(net)
        if canonical not in out:
            out.append(canonical)
    if len(out) > MAX_ALLOWLIST_ENTRIES:
        raise ApiKeyInvalid("dev.error.too_many_addresses", limit=MAX_ALLOWLIST_ENTRIES)
    return out


def address_allowed(address: str, allowlist: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    for entry in allowlist:
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if ip.version == net.version and ip in net:
            return True
    return False


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The client's address: the connection's peer, unless ``trusted_proxies``
    proxies sit in front of the app; then the address the outermost trusted
    proxy saw (counting from the right of X-Forwarded-For, where each proxy
    appends). Entries further left are client-supplied and never trusted."""
    peer = peer or ""
    if trusted_proxies <= 0:
        return peer
    chain = [p.strip() for p in (forwarded_for or "").split(",") if p.strip()]
    chain.append(peer)
    index = len(chain) - 1 - trusted_proxies
    return chain[max(index, 0)]


def client_address_of(scope) -> str:
    """The client address of an ASGI request (a Starlette ``Request`` or its
    ``scope``): ``client_address`` of its peer and X-Forwarded-For under the
    ``api_trusted_proxies`` setting. The one reader for every per-client
    limit and check: the REST API, the recipient pages, the simulator guard
    (issue 17: the recipient limiter read the peer, so behind a proxy every
    recipient shared the proxy's budget)."""
    from smspay_app.settings import get_settings

    scope = getattr(scope, "scope", scope)
    peer = (scope.get("client") or ("", 0))[0] or ""
    forwarded = None
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-forwarded-for":
            forwarded = value.decode("latin-1") if forwarded is None else f"{forwarded}, {value.decode('latin-1')}"
    return client_address(peer, forwarded, get_settings().api_trusted_proxies) or peer


# ------------------------------------------------------------------ keys


def _scopes(scopes: list[str] | str) -> list[str]:
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    chosen = [s for s in API_SCOPES if s in items]
    unknown = [s for s in items if s not in API_SCOPES]
    if unknown:
        raise ApiKeyInvalid("dev.error.unknown_scope", scope=str(unknown[0])[:30])
    if not chosen:
        raise ApiKeyInvalid("dev.error.no_scope")
    return chosen


def create_key(
    session: Session,
    caller: Caller,
    name: str,
    scopes: list[str] | str,
    allowlist: str | list[str] = "",
    *,
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the caller's organisation. Returns the row and the full
    secret, which is never stored and never shown again."""
    caller.require("settings.manage")
    name = (name or "").strip()
    if not name:
        raise ApiKeyInvalid("dev.error.name_required")
    chosen = _scopes(scopes)
    entries = parse_allowlist(allowlist)
    org = session.get(Organisation, caller.organisation_id)
    if org is not None and org.require_api_allowlist and not entries:
        raise ApiKeyInvalid("dev.error.allowlist_required")
    from smspay_app.settings import get_settings

    prefix = KEY_PREFIX + new_token(6)[:8]
    secret = new_token(24)  # 192 bits
    full = f"{prefix}_{secret}"
    key = ApiKey(
        organisation_id=caller.organisation_id,
        name=name[:100],
        prefix=prefix,
        secret_hash=hash_token(full),
        scopes=" ".join(chosen),
        allowlist=" ".join(entries),
        rate_limit_per_minute=rate_limit_per_minute or get_settings().api_rate_per_minute,
        created_by_user_id=caller.user_id,
    )
    session.add(key)
    session.flush()
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="api_key.create",
            target_type="api_key",
            target_id=key.id,
            detail=json.dumps({"prefix": prefix, "scopes": chosen, "allowlist": entries}),
        )
    )
    session.flush()
    return key, full


def revoke_key(session: Session, caller: Caller, key_id: int) -> bool:
    caller.require("settings.manage")
    key = session.get(ApiKey, key_id)
    if key is None or key.organisation_id != caller.organisation_id or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.add(key)
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="api_key.revoke",
            target_type="api_key",
            target_id=key.id,
            detail=json.dumps({"prefix": key.prefix}),
        )
    )
    session.flush()
    return True


def list_keys(session: Session, caller: Caller) -> list[ApiKey]:
    caller.require("settings.manage")
    return list(
        session.exec(select(ApiKey).where(ApiKey.organisation_id == caller.organisation_id).order_by(ApiKey.id.desc()))
    )


def set_require_allowlist(session: Session, caller: Caller, required: bool) -> None:
    caller.require("settings.manage")
    org = session.get(Organisation, caller.organisation_id)
    org.require_api_allowlist = bool(required)
    session.add(org)
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action="api.require_allowlist",
            detail=json.dumps({"required": bool(required)}),
        )
    )
    session.flush()


@dataclass
class AuthResult:
    caller: ApiCaller | None
    error: str = ""  # i18n key suffix: unauthenticated | ip_not_allowed | allowlist_required | organisation_suspended


def authenticate(session: Session, presented: str | None, address: str) -> AuthResult:
    """Check a presented key (``Authorization: Bearer <key>``) and the client
    address. Unknown, malformed and revoked keys are indistinguishable to the
    client (``unauthenticated``)."""
    presented = (presented or "").strip()
    if not presented.startswith(KEY_PREFIX) or len(presented) > 100 or "_" not in presented[len(KEY_PREFIX) :]:
        return AuthResult(None, "unauthenticated")
    prefix = presented[: presented.index("_", len(KEY_PREFIX))]
    row = session.exec(
        select(ApiKey, Organisation)
        .join(Organisation, Organisation.id == ApiKey.organisation_id)
        .where(ApiKey.prefix == prefix)
    ).first()
    if row is None:
        hmac.compare_digest(hash_token(presented), hash_token("x"))  # same work either way
        return AuthResult(None, "unauthenticated")
    key, org = row
    if not hmac.compare_digest(key.secret_hash, hash_token(presented)) or key.revoked_at is not None:
        return AuthResult(None, "unauthenticated")
    if org.status != "active":  # services.installation: suspended (a deleted one's keys are revoked)
        return AuthResult(None, "organisation_suspended")
    allowlist = key.allowlist.split()
    if not allowlist and org.require_api_allowlist:
        return AuthResult(None, "allowlist_required")
    if allowlist and not address_allowed(address, allowlist):
        return AuthResult(None, "ip_not_allowed")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > timedelta(seconds=60):
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        session.flush()
    return AuthResult(
        ApiCaller(
            user_id=None,  # type: ignore[arg-type]  # no person: the key acts
            organisation_id=org.id,
            role="api",
            email="",
            display_name=key.name,
            language="ja",
            organisation_name=org.name,
            api_key_id=key.id,
            scopes=frozenset(key.scopes.split()),
            rate_limit_per_minute=key.rate_limit_per_minute,
        )
    )
