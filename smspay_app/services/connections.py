"""Connections: each organisation's own SMS and payment accounts.

An organisation has SMS connections (``simulator``, ``twilio``, ``karaden``)
and payment connections (``sandbox``, ``stripe``, ``komoju``), at most one
default of each kind. A campaign may pick one (``Campaign.sms_connection_id``
/ ``payment_connection_id``); otherwise the organisation's default is used,
otherwise the environment's settings (the *fallback*: a single-business
install and the embedded zero-configuration defaults work unchanged).

Credentials are sealed at rest exactly as TOTP secrets are
(``services.totp.seal``), shown once (the answer to ``add``), afterwards only
by their last four characters; they are never put in a ``ConnectionView``, an
audit entry or a log line. Only admins (``settings.manage``) manage them.

The SMS provider for an attempt is resolved in one place: ``sms_route`` (which
connection, as an ``SmsSpec``) and ``ProviderPool`` (one adapter per
connection, cached, closed by ``aclose``); ``sms_provider_for`` does both.

The payment gateway likewise: ``payment_route`` (a new checkout: the
campaign's pick, else the organisation's default, else the environment's
account) and ``payment_route_of`` (an existing ``Payment``: the connection it
was created through, ``Payment.payment_connection_id``) give a
``PaymentSpec``; ``build_payment_gateway`` turns it into an adapter through
``PAYMENT_GATEWAYS`` (one entry per provider: sandbox, stripe, komoju) and
caches it. Each payment connection has its own webhook
URL, ``/webhooks/payments/{public_id}`` (``payment_webhook_url``), verified
with that connection's secret and applied only to its own payments
(``payment_belongs``)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from smspay_app.domain.clock import utcnow
from smspay_app.domain.errors import FieldError, Invalid, Refused
from smspay_app.models import AuditLog, Campaign, Connection, Payment, SendAttempt
from smspay_app.providers.payments.base import GatewayError, PaymentGateway
from smspay_app.providers.sms.base import SmsCapabilities, SmsError, SmsProvider, capabilities_for, get_sms_provider
from smspay_app.providers.sms.karaden import DEFAULT_API_BASE as KARADEN_API_BASE
from smspay_app.services import totp
from smspay_app.services.auth import Caller
from smspay_app.settings import Settings, get_settings

KINDS = ("sms", "payment")
PROVIDERS: dict[str, tuple[str, ...]] = {
    "sms": ("simulator", "twilio", "karaden"),
    "payment": ("sandbox", "stripe", "komoju"),
}


@dataclass(frozen=True)
class ProviderField:
    name: str
    secret: bool = False
    required: bool = True


# The fields an admin fills in for each provider. Secret fields are sealed;
# the others are kept as plain configuration (shown on the page).
FIELDS: dict[str, tuple[ProviderField, ...]] = {
    "simulator": (
        ProviderField("account_sid", required=False),
        ProviderField("auth_token", secret=True, required=False),
        ProviderField("sender", required=False),
        ProviderField("api_base", required=False),
    ),
    "twilio": (
        ProviderField("account_sid"),
        ProviderField("auth_token", secret=True),
        ProviderField("sender", required=False),
        ProviderField("api_base", required=False),
    ),
    "karaden": (
        ProviderField("tenant_id"),
        ProviderField("service_id"),
        ProviderField("token", secret=True),
        ProviderField("api_base", required=False),
    ),
    "sandbox": (
        ProviderField("secret_key", secret=True, required=False),
        ProviderField("webhook_secret", secret=True, required=False),
        ProviderField("api_base", required=False),
    ),
    "stripe": (
        ProviderField("secret_key", secret=True),
        ProviderField("webhook_secret", secret=True, required=False),
        ProviderField("api_base", required=False),
    ),
    "komoju": (
        ProviderField("secret_key", secret=True),
        ProviderField("webhook_secret", secret=True, required=False),
        ProviderField("api_base", required=False),
    ),
}

# SMS providers whose adapter this build has (a connection to another one
# cannot be added yet).
SMS_ADAPTERS = ("simulator", "twilio", "karaden")

# Providers whose callbacks /webhooks/sms/{public_id}/... receive.
CALLBACK_PROVIDERS = ("simulator", "twilio")

# Defaults of the embedded simulator (a simulator connection without fields
# talks to the simulator mounted in this server, as the fallback does).
SIMULATOR_DEFAULTS = {"account_sid": "ACsimulator0000000000000000000000", "auth_token": "simulator-auth-token"}


class ConnectionRefused(Refused):
    """A connection action the rules forbid (``key``: the i18n reason)."""


@dataclass(frozen=True)
class Added:
    """The answer to ``add``: shown once. ``webhook_secret`` is generated for
    the connection's callback URLs; the credentials are never shown again."""

    connection_id: int
    public_id: str
    webhook_secret: str


@dataclass(frozen=True)
class ConnectionView:
    """What a page or an API may show of a connection: never a secret."""

    id: int
    kind: str
    provider: str
    label: str
    public_id: str
    config: dict[str, str]
    secret_hint: str  # "••••" + last four characters
    is_default: bool
    disabled: bool
    status_callback_url: str
    inbound_url: str
    last_test_result: str
    capabilities: SmsCapabilities | None = None
    payment_webhook_url: str = ""  # a payment connection's own webhook URL


@dataclass(frozen=True)
class SmsSpec:
    """Everything needed to build an SMS adapter for one connection (or the
    environment's fallback, ``connection_id=None``). In memory only."""

    connection_id: int | None
    provider: str
    api_base: str = ""
    account_sid: str = ""
    secret: str = field(default="", repr=False)
    sender: str = ""
    tenant_id: str = ""
    service_id: str = ""
    public_id: str = ""


# ------------------------------------------------------------------ helpers


def _fields_of(connection: Connection) -> dict[str, str]:
    config: dict[str, str] = json.loads(connection.config or "{}")
    return config


def _secrets_of(connection: Connection) -> dict[str, str]:
    raw = totp.unseal(connection.secret_sealed) if connection.secret_sealed else None
    sealed: dict[str, str] = json.loads(raw) if raw else {}
    return sealed


def webhook_secret_of(connection: Connection) -> str:
    return totp.unseal(connection.webhook_secret_sealed) or ""


def callback_urls(public_id: str, settings: Settings | None = None) -> tuple[str, str]:
    base = (settings or get_settings()).public_base_url.rstrip("/")
    return f"{base}/webhooks/sms/{public_id}/status", f"{base}/webhooks/sms/{public_id}/inbound"


def karaden_result_url(public_id: str, settings: Settings | None = None) -> str:
    base = (settings or get_settings()).public_base_url.rstrip("/")
    return f"{base}/webhooks/sms/{public_id}/result"


def _audit(session: Session, caller: Caller, action: str, connection: Connection, **detail: Any) -> None:
    session.add(
        AuditLog(
            organisation_id=caller.organisation_id,
            user_id=caller.user_id,
            action=action,
            target_type="connection",
            target_id=connection.id,
            detail=json.dumps({"kind": connection.kind, "provider": connection.provider, **detail}),
        )
    )


def _own(session: Session, caller: Caller, connection_id: int) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.organisation_id != caller.organisation_id:
        raise ConnectionRefused("connections.error.not_found")
    return connection


def view(connection: Connection, settings: Settings | None = None) -> ConnectionView:
    status_url, inbound_url = callback_urls(connection.public_id, settings)
    return ConnectionView(
        id=connection.id or 0,
        kind=connection.kind,
        provider=connection.provider,
        label=connection.label,
        public_id=connection.public_id,
        config=_fields_of(connection),
        secret_hint=("••••" + connection.secret_last4) if connection.secret_last4 else "",
        is_default=connection.is_default,
        disabled=connection.disabled_at is not None,
        # Twilio protocol: status callbacks; Karaden: its result callback
        # (SMS送達結果通知, web.karaden_callbacks), entered in its service settings.
        status_callback_url=status_url
        if connection.provider in CALLBACK_PROVIDERS
        else karaden_result_url(connection.public_id, settings)
        if connection.provider == "karaden"
        else "",
        inbound_url=inbound_url if connection.provider in CALLBACK_PROVIDERS else "",
        last_test_result=connection.last_test_result,
        capabilities=capabilities_for(connection.provider) if connection.kind == "sms" else None,
        payment_webhook_url=payment_webhook_url(connection.public_id, settings) if connection.kind == "payment" else "",
    )


# ---------------------------------------------------------------- managing


def list_for(session: Session, caller: Caller, kind: str | None = None) -> list[ConnectionView]:
    caller.require("settings.manage")
    query = select(Connection).where(Connection.organisation_id == caller.organisation_id)
    if kind:
        query = query.where(Connection.kind == kind)
    return [view(c) for c in session.exec(query.order_by(Connection.kind, Connection.id))]


def add(
    session: Session,
    caller: Caller,
    *,
    kind: str,
    provider: str,
    fields: dict[str, str],
    label: str = "",
    make_default: bool = False,
) -> Added:
    """Add a connection (validated; credentials sealed). The first connection
    of a kind becomes the default. Raises ``Invalid`` (per field) or
    ``ConnectionRefused``."""
    caller.require("settings.manage")
    if kind not in KINDS or provider not in PROVIDERS[kind]:
        raise ConnectionRefused("connections.error.unknown_provider")
    if kind == "sms" and provider not in SMS_ADAPTERS:
        raise ConnectionRefused("connections.error.not_available")
    values = {k: (v or "").strip() for k, v in fields.items()}
    errors = [
        FieldError(f.name, "connections.error.required")
        for f in FIELDS[provider]
        if f.required and not values.get(f.name)
    ]
    base = values.get("api_base", "")
    if base and not base.startswith(("https://", "http://")):
        errors.append(FieldError("api_base", "connections.error.api_base"))
    if errors:
        raise Invalid(errors)
    config = {f.name: values[f.name] for f in FIELDS[provider] if not f.secret and values.get(f.name)}
    hidden = {f.name: values[f.name] for f in FIELDS[provider] if f.secret and values.get(f.name)}
    main_secret = next((hidden[f.name] for f in FIELDS[provider] if f.secret and f.name in hidden), "")
    webhook_secret = "whsec_" + secrets.token_urlsafe(24)
    public_id = "cn_" + secrets.token_hex(8)
    has_default = session.exec(
        select(Connection.id).where(
            Connection.organisation_id == caller.organisation_id,
            Connection.kind == kind,
            Connection.is_default == True,  # noqa: E712
        )
    ).first()
    connection = Connection(
        organisation_id=caller.organisation_id,
        kind=kind,
        provider=provider,
        label=(label or "").strip()[:80] or provider,
        public_id=public_id,
        config=json.dumps(config),
        secret_sealed=totp.seal(json.dumps(hidden)) if hidden else "",
        secret_last4=main_secret[-4:] if len(main_secret) >= 8 else "",
        webhook_secret_sealed=totp.seal(webhook_secret),
        is_default=False,
        created_by_user_id=caller.user_id,
        created_at=utcnow(),
    )
    session.add(connection)
    session.flush()
    _audit(session, caller, "connection.add", connection)
    if make_default or has_default is None:
        _make_default(session, connection)
    session.flush()
    if kind == "payment":
        register_with_mounted_sandbox(payment_spec_of(connection))
    return Added(connection_id=connection.id or 0, public_id=public_id, webhook_secret=webhook_secret)


def may_pick(caller: Any) -> bool:
    """Who may pick a campaign's connections: an admin (``settings.manage``),
    or an API key with the ``manage`` scope (an admin created it)."""
    if caller.can("settings.manage"):
        return True
    has_scope = getattr(caller, "has_scope", None)
    return bool(has_scope and has_scope("manage"))


def check_pick(session: Session, organisation_id: int, kind: str, connection_id: int | None) -> Connection | None:
    """The connection a campaign may pick for ``kind`` (None: the
    organisation's default). Raises ``ConnectionRefused``: another
    organisation's or kind's (``connections.error.not_found``), disabled
    (``connections.error.disabled``)."""
    if connection_id is None:
        return None
    connection = session.get(Connection, connection_id)
    if connection is None or connection.organisation_id != organisation_id or connection.kind != kind:
        raise ConnectionRefused("connections.error.not_found")
    if connection.disabled_at is not None:
        raise ConnectionRefused("connections.error.disabled")
    return connection


PICK_FIELDS = (("sms", "sms_connection_id"), ("payment", "payment_connection_id"))


def pick_errors(
    session: Session,
    caller: Any,
    campaign: Campaign | None,
    picks: dict[str, int | None],
) -> list[FieldError]:
    """What is wrong with the picks of a campaign (``picks``: field name
    ``sms_connection_id`` / ``payment_connection_id`` to a connection id or
    None), one ``FieldError`` per field; a pick left as it is never is."""
    errors: list[FieldError] = []
    for kind, name in PICK_FIELDS:
        if name not in picks:
            continue
        wanted = picks[name]
        current = getattr(campaign, name) if campaign is not None else None
        if wanted == current:
            continue
        if not may_pick(caller):
            errors.append(FieldError(name, "connections.error.pick_admin_only"))
            continue
        try:
            check_pick(session, caller.organisation_id, kind, wanted)
        except ConnectionRefused as exc:
            errors.append(FieldError(name, exc.key))
    return errors


def apply_picks(session: Session, caller: Any, campaign: Campaign, picks: dict[str, int | None]) -> None:
    """Set the campaign's picks (checked by ``pick_errors`` first), audited
    per change (``campaign.sms_connection`` / ``campaign.payment_connection``)."""
    for kind, name in PICK_FIELDS:
        if name not in picks or picks[name] == getattr(campaign, name):
            continue
        connection = check_pick(session, caller.organisation_id, kind, picks[name])
        setattr(campaign, name, picks[name])
        session.add(campaign)
        session.add(
            AuditLog(
                organisation_id=caller.organisation_id,
                user_id=getattr(caller, "user_id", None),
                action=f"campaign.{kind}_connection",
                target_type="campaign",
                target_id=campaign.id,
                detail=json.dumps(
                    {"connection_id": picks[name], "provider": connection.provider if connection else ""}
                ),
            )
        )
    session.flush()


_UNSET: Any = object()


def choose_for_campaign(
    session: Session,
    caller: Caller,
    campaign_id: int,
    *,
    sms_connection_id: int | None = _UNSET,
    payment_connection_id: int | None = _UNSET,
) -> None:
    """The SMS and/or payment connection a campaign goes through (None: the
    organisation's default). Only an enabled connection of the caller's
    organisation, of that kind; only admins."""
    caller.require("settings.manage")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organisation_id != caller.organisation_id:
        raise ConnectionRefused("connections.error.not_found")
    picks = {
        name: value
        for name, value in (("sms_connection_id", sms_connection_id), ("payment_connection_id", payment_connection_id))
        if value is not _UNSET
    }
    errors = pick_errors(session, caller, campaign, picks)
    if errors:
        raise ConnectionRefused(errors[0].key)
    apply_picks(session, caller, campaign, picks)


def pick_choices(session: Session, organisation_id: int, kind: str) -> list[Connection]:
    """The enabled connections of ``kind`` a campaign of the organisation may pick."""
    return list(
        session.exec(
            select(Connection)
            .where(
                Connection.organisation_id == organisation_id,
                Connection.kind == kind,
                Connection.disabled_at.is_(None),
            )
            .order_by(Connection.id)
        )
    )


def _make_default(session: Session, connection: Connection) -> None:
    for other in session.exec(
        select(Connection).where(
            Connection.organisation_id == connection.organisation_id,
            Connection.kind == connection.kind,
            Connection.is_default == True,  # noqa: E712
        )
    ):
        if other.id != connection.id:
            other.is_default = False
            session.add(other)
    session.flush()  # one default per kind at any moment
    connection.is_default = True
    session.add(connection)


def set_default(session: Session, caller: Caller, connection_id: int) -> None:
    caller.require("settings.manage")
    connection = _own(session, caller, connection_id)
    if connection.disabled_at is not None:
        raise ConnectionRefused("connections.error.disabled")
    _make_default(session, connection)
    _audit(session, caller, "connection.default", connection)
    session.flush()


def disable(session: Session, caller: Caller, connection_id: int) -> None:
    """Disable a connection: new sends no longer use it (the organisation's
    default, else the environment's fallback, takes over); messages it already
    sent are still polled through it."""
    caller.require("settings.manage")
    connection = _own(session, caller, connection_id)
    if connection.disabled_at is not None:
        return
    connection.disabled_at = utcnow()
    connection.is_default = False
    session.add(connection)
    _audit(session, caller, "connection.disable", connection)
    session.flush()


async def test(session: Session, caller: Caller, connection_id: int) -> str:
    """A harmless call with the connection's credentials (SMS: list the
    messages to a number that receives none; payment: read a checkout that
    does not exist, "not found" proving the key). Returns ``ok`` or an i18n key
    (``connections.test.bad_credentials`` / ``.unreachable`` /
    ``.not_available``), recorded on the connection and audited."""
    caller.require("settings.manage")
    connection = _own(session, caller, connection_id)
    result = "connections.test.not_available"
    if connection.kind == "sms" and connection.provider in SMS_ADAPTERS:
        provider = build_sms_provider(spec_of(connection), timeout=5.0)
        try:
            await provider.list_messages("+10000000000", None, 1)
            result = "ok"
        except SmsError as exc:
            result = "connections.test.bad_credentials" if exc.account_level else "connections.test.unreachable"
        finally:
            await provider.aclose()
    elif connection.kind == "payment" and connection.provider in PAYMENT_GATEWAYS:
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(_test_payment, payment_spec_of(connection))
    connection.last_tested_at = utcnow()
    connection.last_test_result = result
    session.add(connection)
    _audit(session, caller, "connection.test", connection, result=result)
    session.flush()
    return result


# ----------------------------------------------------------------- routing


def spec_of(connection: Connection, settings: Settings | None = None) -> SmsSpec:
    settings = settings or get_settings()
    config = _fields_of(connection)
    hidden = _secrets_of(connection)
    if connection.provider == "simulator":
        return SmsSpec(
            connection_id=connection.id,
            provider="simulator",
            api_base=config.get("api_base") or settings.sms_api_base,
            account_sid=config.get("account_sid") or SIMULATOR_DEFAULTS["account_sid"],
            secret=hidden.get("auth_token") or SIMULATOR_DEFAULTS["auth_token"],
            sender=config.get("sender", ""),
            public_id=connection.public_id,
        )
    if connection.provider == "twilio":
        return SmsSpec(
            connection_id=connection.id,
            provider="twilio",
            api_base=config.get("api_base") or "https://api.twilio.com",
            account_sid=config.get("account_sid", ""),
            secret=hidden.get("auth_token", ""),
            sender=config.get("sender", ""),
            public_id=connection.public_id,
        )
    return SmsSpec(
        connection_id=connection.id,
        provider=connection.provider,
        api_base=config.get("api_base") or KARADEN_API_BASE,
        secret=hidden.get("token", ""),
        tenant_id=config.get("tenant_id", ""),
        service_id=config.get("service_id", ""),
        public_id=connection.public_id,
    )


def fallback_spec(settings: Settings | None = None) -> SmsSpec:
    """The environment's SMS account (``SMSPAY_SMS_PROVIDER`` and friends)."""
    settings = settings or get_settings()
    return SmsSpec(connection_id=None, provider=settings.sms_provider)


def sms_connection_for(session: Session, campaign: Campaign | None, organisation_id: int) -> Connection | None:
    """The campaign's own connection when enabled, else the organisation's
    enabled default, else None (the environment's fallback)."""
    if campaign is not None and campaign.sms_connection_id is not None:
        chosen = session.get(Connection, campaign.sms_connection_id)
        if chosen is not None and chosen.organisation_id == organisation_id and chosen.disabled_at is None:
            return chosen
    return session.exec(
        select(Connection).where(
            Connection.organisation_id == organisation_id,
            Connection.kind == "sms",
            Connection.is_default == True,  # noqa: E712
            Connection.disabled_at.is_(None),
        )
    ).first()


def sms_provider_name(session: Session, organisation_id: int, campaign: Campaign | None = None) -> str:
    """The name of the SMS provider an organisation's messages go through
    (what ``capabilities_for`` is asked about)."""
    connection = sms_connection_for(session, campaign, organisation_id)
    return connection.provider if connection is not None else get_settings().sms_provider


def sms_route(
    session: Session,
    *,
    campaign: Campaign | None = None,
    attempt: SendAttempt | None = None,
    organisation_id: int | None = None,
    settings: Settings | None = None,
) -> SmsSpec:
    """Which account an SMS goes through. An attempt already sent keeps the
    connection it went through (polls, reconciliation); a new one takes the
    campaign's, else the organisation's default, else the fallback."""
    settings = settings or get_settings()
    if attempt is not None and (attempt.sms_connection_id is not None or attempt.provider):
        if attempt.sms_connection_id is None:
            return fallback_spec(settings)
        connection = session.get(Connection, attempt.sms_connection_id)
        return spec_of(connection, settings) if connection is not None else fallback_spec(settings)
    if campaign is None and attempt is not None:
        campaign = session.get(Campaign, attempt.campaign_id)
    org_id = organisation_id or (campaign.organisation_id if campaign else None)
    if org_id is None and attempt is not None:
        org_id = attempt.organisation_id
    if org_id is None:
        return fallback_spec(settings)
    connection = sms_connection_for(session, campaign, org_id)
    return spec_of(connection, settings) if connection is not None else fallback_spec(settings)


def build_sms_provider(spec: SmsSpec, settings: Settings | None = None, **kwargs: Any) -> SmsProvider:
    """The adapter for one connection (``spec.connection_id=None``: the
    environment's, ``providers.sms.base.get_sms_provider``)."""
    from smspay_app.providers.sms.twilio import TwilioProvider, lookup_base_for

    if spec.connection_id is None:
        return get_sms_provider(settings or get_settings(), **kwargs)
    if spec.provider in ("simulator", "twilio"):
        return TwilioProvider(
            api_base=spec.api_base,
            lookup_base=lookup_base_for(spec.api_base),
            account_sid=spec.account_sid,
            auth_token=spec.secret,
            name=spec.provider,
            **kwargs,
        )
    if spec.provider == "karaden":
        from smspay_app.providers.sms.karaden import KaradenProvider

        return KaradenProvider(
            tenant_id=spec.tenant_id,
            token=spec.secret,
            service_id=spec.service_id,
            api_base=spec.api_base,
            **kwargs,
        )
    raise SmsError("permanent", f"no adapter for {spec.provider}", code="no_adapter", account_level=True)


class ProviderPool:
    """One SMS adapter per connection, built on first use and kept (with its
    HTTP connection pool) until ``aclose``. ``fallback``: an adapter to use for
    the environment's account instead of building one (tests inject it)."""

    def __init__(self, settings: Settings | None = None, *, fallback: SmsProvider | None = None, **kwargs: Any):
        self.settings = settings or get_settings()
        self._kwargs = kwargs
        self._owns_fallback = fallback is None
        self.fallback = fallback or build_sms_provider(fallback_spec(self.settings), self.settings, **kwargs)
        self._adapters: dict[SmsSpec, SmsProvider] = {}

    def get(self, spec: SmsSpec) -> SmsProvider:
        if spec.connection_id is None:
            return self.fallback
        adapter = self._adapters.get(spec)
        if adapter is None:
            adapter = self._adapters[spec] = build_sms_provider(spec, self.settings, **self._kwargs)
        return adapter

    async def aclose(self) -> None:
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            await adapter.aclose()
        if self._owns_fallback:
            await self.fallback.aclose()


def sms_provider_for(
    session: Session,
    pool: ProviderPool,
    *,
    campaign: Campaign | None = None,
    attempt: SendAttempt | None = None,
    organisation_id: int | None = None,
) -> tuple[SmsSpec, SmsProvider]:
    """The one answer to "which SMS account, which adapter" for an attempt."""
    spec = sms_route(
        session, campaign=campaign, attempt=attempt, organisation_id=organisation_id, settings=pool.settings
    )
    return spec, pool.get(spec)


def connection_for_callback(session: Session, public_id: str) -> Connection | None:
    return session.exec(select(Connection).where(Connection.public_id == public_id, Connection.kind == "sms")).first()


# --------------------------------------------------------- payment routing

# The sandbox's own test key: what a sandbox connection without a key uses when
# the environment's account is a real Stripe one (never sent to the sandbox).
SANDBOX_DEFAULT_KEY = "sk_test_sandbox"


@dataclass(frozen=True)
class PaymentSpec:
    """Everything needed to build a payment adapter for one connection (or the
    environment's fallback, ``connection_id=None``). In memory only: never in
    state, a log line or an answer (the secrets are left out of ``repr``)."""

    connection_id: int | None
    provider: str
    api_base: str
    secret_key: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    organisation_id: int | None = None
    public_id: str = ""


@dataclass(frozen=True)
class GatewayKind:
    """One payment provider this build has an adapter for: how to build it
    from a spec, and which request header carries its webhooks' signature."""

    build: Callable[[PaymentSpec], PaymentGateway]
    signature_header: str


def _stripe_protocol(spec: PaymentSpec) -> PaymentGateway:
    from smspay_app.providers.payments.stripe import StripeCheckoutGateway

    return StripeCheckoutGateway(
        api_base=spec.api_base or "https://api.stripe.com",
        secret_key=spec.secret_key,
        webhook_secret=spec.webhook_secret,
        name=spec.provider,
    )


# KOMOJU's API when a connection names no other base (the embedded KOMOJU
# sandbox is ``{public_base_url}/sim/komoju/api/v1``).
KOMOJU_API_BASE = "https://komoju.com/api/v1"


def _komoju(spec: PaymentSpec) -> PaymentGateway:
    from smspay_app.providers.payments.komoju import KomojuGateway

    return KomojuGateway.for_connection(spec.secret_key, spec.webhook_secret, spec.api_base or KOMOJU_API_BASE)


# The registry of payment adapters, by provider.
PAYMENT_GATEWAYS: dict[str, GatewayKind] = {
    "sandbox": GatewayKind(_stripe_protocol, "stripe-signature"),
    "stripe": GatewayKind(_stripe_protocol, "stripe-signature"),
    "komoju": GatewayKind(_komoju, "x-komoju-signature"),
}

_gateways: dict[PaymentSpec, PaymentGateway] = {}
_gateways_lock = threading.Lock()
_GATEWAY_CACHE_SIZE = 256


def payment_spec_of(connection: Connection, settings: Settings | None = None) -> PaymentSpec:
    """The spec of a payment connection. A sandbox connection without fields is
    the sandbox mounted in this server (as the fallback is); a connection's
    webhooks are verified with the provider's signing secret when one was
    given (Stripe shows its own), else with the secret generated at ``add``."""
    settings = settings or get_settings()
    config = _fields_of(connection)
    hidden = _secrets_of(connection)
    webhook_secret = hidden.get("webhook_secret") or webhook_secret_of(connection)
    api_base = config.get("api_base", "")
    secret_key = hidden.get("secret_key", "")
    if connection.provider == "sandbox":
        env_is_sandbox = settings.payment_provider == "sandbox"
        mounted = f"{settings.public_base_url.rstrip('/')}/sim/stripe"
        api_base = api_base or (settings.payment_api_base if env_is_sandbox else mounted)
        secret_key = secret_key or (settings.stripe_secret_key if env_is_sandbox else SANDBOX_DEFAULT_KEY)
    return PaymentSpec(
        connection_id=connection.id,
        provider=connection.provider,
        api_base=api_base.rstrip("/"),
        secret_key=secret_key,
        webhook_secret=webhook_secret,
        organisation_id=connection.organisation_id,
        public_id=connection.public_id,
    )


def mounted_sandbox_base(provider: str, settings: Settings | None = None) -> str:
    """The API base of the payment sandbox for ``provider`` mounted in this
    server (demo / simulator mode), "" when none is mounted: KOMOJU's at
    ``/sim/komoju/api/v1``, the Stripe-protocol one at ``/sim/stripe``."""
    settings = settings or get_settings()
    base = settings.public_base_url.rstrip("/")
    if provider == "komoju" and settings.komoju_sandbox_in_use:
        return f"{base}/sim/komoju/api/v1"
    if provider in ("sandbox", "stripe") and settings.payment_provider == "sandbox":
        return f"{base}/sim/stripe"
    return ""


def register_with_mounted_sandbox(spec: PaymentSpec, settings: Settings | None = None) -> bool:
    """When a payment connection's API base is this server's own mounted
    sandbox, make its key a merchant account there, with the connection's
    webhook URL and secret (what a business sets in its provider's dashboard):
    the sandbox then sends that connection's events to its own URL. Never for
    a real provider (another API base), nor for the sandbox's default key (the
    environment's account keeps its URL). Called at ``add`` and whenever a
    gateway is built (so a restarted server registers again). Returns whether
    it registered."""
    settings = settings or get_settings()
    mounted = mounted_sandbox_base(spec.provider, settings)
    if spec.connection_id is None or not mounted or spec.api_base.rstrip("/") != mounted or not spec.secret_key:
        return False
    url = payment_webhook_url(spec.public_id, settings)
    if spec.provider == "komoju":
        from smspay_app.providers.payments import komoju_sandbox

        if secrets.compare_digest(spec.secret_key.encode(), settings.komoju_secret_key.encode()):
            return False
        komoju_sandbox.register_mounted_merchant(spec.secret_key, webhook_url=url, webhook_secret=spec.webhook_secret)
        return True
    from smspay_app.providers.payments import sandbox

    if secrets.compare_digest(spec.secret_key.encode(), settings.stripe_secret_key.encode()):
        return False
    sandbox.register_mounted_account(spec.secret_key, webhook_url=url, webhook_secret=spec.webhook_secret)
    return True


def _test_payment(spec: PaymentSpec) -> str:
    try:
        build_payment_gateway(spec).retrieve_checkout("cs_smspay_connection_test")
    except GatewayError as exc:
        if exc.status == 404:
            return "ok"  # the key was accepted; the checkout does not exist
        if exc.status in (401, 403):
            return "connections.test.bad_credentials"
        return "connections.test.unreachable"
    return "ok"


def fallback_payment_spec(settings: Settings | None = None) -> PaymentSpec:
    """The environment's payment account (``SMSPAY_PAYMENT_PROVIDER`` and the
    ``SMSPAY_STRIPE_*`` / ``SMSPAY_KOMOJU_*`` settings)."""
    settings = settings or get_settings()
    if settings.payment_provider == "komoju":
        return PaymentSpec(
            connection_id=None,
            provider="komoju",
            api_base=settings.komoju_api_base_url,
            secret_key=settings.komoju_secret_key,
            webhook_secret=settings.komoju_webhook_secret,
        )
    return PaymentSpec(
        connection_id=None,
        provider=settings.payment_provider,
        api_base=settings.payment_api_base,
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
    )


def payment_connection_for(session: Session, campaign: Campaign | None, organisation_id: int) -> Connection | None:
    """The campaign's own payment connection when enabled, else the
    organisation's enabled default, else None (the environment's fallback)."""
    if campaign is not None and campaign.payment_connection_id is not None:
        chosen = session.get(Connection, campaign.payment_connection_id)
        if (
            chosen is not None
            and chosen.kind == "payment"
            and chosen.organisation_id == organisation_id
            and chosen.disabled_at is None
        ):
            return chosen
    return session.exec(
        select(Connection).where(
            Connection.organisation_id == organisation_id,
            Connection.kind == "payment",
            Connection.is_default == True,  # noqa: E712
            Connection.disabled_at.is_(None),
        )
    ).first()


def payment_route(
    session: Session,
    campaign: Campaign | None,
    organisation_id: int | None = None,
    *,
    settings: Settings | None = None,
) -> PaymentSpec:
    """Which payment account a new checkout of ``campaign`` goes through: the
    campaign's pick, else the organisation's default, else the fallback."""
    settings = settings or get_settings()
    org_id = organisation_id or (campaign.organisation_id if campaign is not None else None)
    if org_id is None:
        return fallback_payment_spec(settings)
    connection = payment_connection_for(session, campaign, org_id)
    return payment_spec_of(connection, settings) if connection is not None else fallback_payment_spec(settings)


def payment_route_of(session: Session, payment: Payment, settings: Settings | None = None) -> PaymentSpec:
    """The account an existing payment was created through (its refunds,
    expiries and webhooks use it, even after the connection is disabled)."""
    settings = settings or get_settings()
    if payment.payment_connection_id is None:
        return fallback_payment_spec(settings)
    connection = session.get(Connection, payment.payment_connection_id)
    return payment_spec_of(connection, settings) if connection is not None else fallback_payment_spec(settings)


def build_payment_gateway(spec: PaymentSpec) -> PaymentGateway:
    """The adapter for ``spec`` (built once per spec and kept). Raises
    ``GatewayError`` (``code`` ``no_adapter``) for a provider this build has no
    adapter for."""
    with _gateways_lock:
        gateway = _gateways.get(spec)
        if gateway is not None:
            return gateway
    kind = PAYMENT_GATEWAYS.get(spec.provider)
    if kind is None:
        raise GatewayError(f"no payment adapter for {spec.provider}", code="no_adapter")
    register_with_mounted_sandbox(spec)
    gateway = kind.build(spec)
    with _gateways_lock:
        if len(_gateways) >= _GATEWAY_CACHE_SIZE:
            _gateways.clear()
        return _gateways.setdefault(spec, gateway)


def environment_gateway(settings: Settings | None = None) -> PaymentGateway:
    """The environment's own account's adapter (``fallback_payment_spec``)."""
    return build_payment_gateway(fallback_payment_spec(settings))


def payment_gateway_for(
    session: Session, campaign: Campaign | None, organisation_id: int | None = None
) -> PaymentGateway:
    """The gateway a new checkout of ``campaign`` goes through (``payment_route``)."""
    return build_payment_gateway(payment_route(session, campaign, organisation_id))


# Where a provider's hosted checkout lives when it is not on its API's origin.
CHECKOUT_ORIGINS = {"stripe": ("https://checkout.stripe.com",)}


def checkout_targets(
    session: Session, campaign: Campaign | None, organisation_id: int | None = None
) -> tuple[str, ...]:
    """Where the recipient's pay form ends up (a 303 to the gateway's hosted
    page): the campaign's payment account's origins, for the page's CSP
    ``form-action``."""
    spec = payment_route(session, campaign, organisation_id)
    return tuple(t for t in (spec.api_base, *CHECKOUT_ORIGINS.get(spec.provider, ())) if t)


def gateway_for_payment(session: Session, payment: Payment) -> PaymentGateway:
    """The gateway of the account ``payment`` was created through."""
    return build_payment_gateway(payment_route_of(session, payment))


def signature_header_for(provider: str) -> str:
    kind = PAYMENT_GATEWAYS.get(provider)
    return kind.signature_header if kind is not None else "stripe-signature"


def payment_webhook_url(public_id: str, settings: Settings | None = None) -> str:
    base = (settings or get_settings()).public_base_url.rstrip("/")
    return f"{base}/webhooks/payments/{public_id}"


def payment_connection_by_public_id(session: Session, public_id: str) -> Connection | None:
    return session.exec(
        select(Connection).where(Connection.public_id == public_id, Connection.kind == "payment")
    ).first()


def _same_account(a: PaymentSpec, b: PaymentSpec) -> bool:
    return a.provider == b.provider and a.api_base == b.api_base and a.secret_key == b.secret_key


def payment_belongs(session: Session, payment: Payment, spec: PaymentSpec) -> bool:
    """Whether a webhook verified for ``spec`` may change ``payment``: a
    connection's webhook only its own organisation's payments made through
    it; the environment's route those made through the environment's account
    (or a connection of that same account: a sandbox connection without keys)."""
    if spec.connection_id is not None:
        return payment.payment_connection_id == spec.connection_id and payment.organisation_id == spec.organisation_id
    if payment.payment_connection_id is None:
        return True
    return _same_account(payment_route_of(session, payment), spec)
