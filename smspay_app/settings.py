"""One typed settings object, read from the environment (prefix ``SMSPAY_``) and
an optional ``.env`` file in the project root. Every setting has a default that
works on a laptop: SQLite, the built-in SMS simulator and payment sandbox."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


def _persistent_secret() -> str:
    """A random secret kept in ``data/secret_key`` so restarts keep sessions and
    answer hashes valid. Production sets ``SMSPAY_SECRET_KEY`` instead."""
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMSPAY_", env_file=str(PROJECT_ROOT / ".env"), extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DATA_DIR / 'smspay.db'}")
    public_base_url: str = "http://localhost:3000"
    timezone: str = "Asia/Tokyo"
    secret_key: str = Field(default_factory=_persistent_secret)
    admin_session_hours: int = 12

    # SMS provider: the built-in Twilio-compatible simulator, or Twilio itself.
    sms_provider: Literal["simulator", "twilio"] = "simulator"
    twilio_api_base: str = ""  # empty: the simulator mounted in this server
    twilio_account_sid: str = "ACsimulator0000000000000000000000"
    twilio_auth_token: str = "simulator-auth-token"
    twilio_from: str = "SMSPAY"
    sms_rate_per_second: float = 100.0
    sms_max_retries: int = 3
    sms_status_poll_after_seconds: int = 300
    # Carrier lookup (Twilio Lookup line type intelligence; paid per lookup on
    # Twilio): None = on with the simulator, off with a real provider.
    sms_carrier_lookup: bool | None = None
    # Dispatcher: a claimed attempt's lease (must exceed the HTTP timeout), the
    # claim batch size, and the reply words that opt a number out (comma separated).
    sms_lease_seconds: int = 60
    sms_batch_size: int = 50
    sms_opt_out_words: str = "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,停止,配信停止,配信解除,解除"

    # Connections (issue 13): the Karaden-compatible simulator mounted at
    # /sim/karaden next to the Twilio one (with SMSPAY_SMS_PROVIDER=simulator);
    # a Karaden connection whose API base is {public_base_url}/sim/karaden uses
    # this tenant, token and service id.
    karaden_sim_tenant_id: str = "00000000-0000-4000-8000-00000000cafe"
    karaden_sim_token: str = "karaden-simulator-token"
    karaden_sim_service_id: int = 1

    # Payment gateway: the built-in Stripe-compatible sandbox, or Stripe.
    payment_provider: Literal["sandbox", "stripe", "komoju"] = "sandbox"
    stripe_api_base: str = ""  # empty: the sandbox mounted in this server
    stripe_secret_key: str = "sk_test_sandbox"
    stripe_webhook_secret: str = "whsec_sandbox_secret"
    # KOMOJU (issue 13): the KOMOJU-compatible sandbox is mounted at
    # /sim/komoju next to the Stripe one (default) or when
    # SMSPAY_PAYMENT_PROVIDER=komoju points at it (empty API base).
    komoju_api_base: str = ""  # empty: the KOMOJU sandbox mounted in this server
    komoju_secret_key: str = "sk_test_komoju_sandbox"
    komoju_webhook_secret: str = "komoju_sandbox_webhook_secret"

    # Background work in the app's lifespan (also runnable as its own process).
    run_worker_in_app: bool = True
    worker_poll_seconds: float = 0.5

    # Uploaded recipient files wait here (never in UI state) between the
    # mapping step and the import; empty: data/uploads. Deleted after import.
    upload_dir: str = ""
    # The built-in simulators' and sandbox's state (providers/sim_store.py), one
    # SQLite file every app process shares; empty: beside the SQLite database
    # (``<db>.simulators``); with PostgreSQL one per database URL in the temp dir.
    sim_store: str = ""
    upload_max_age_hours: int = 24
    # Where uploads wait (issue 17: an import whose upload and websocket reach
    # different app processes found no file): "folder" (upload_dir), "database"
    # (every process reads it), "auto" = database when several processes run
    # (a Redis URL is set), folder otherwise. "folder" with several processes
    # needs an upload_dir they all share: the app refuses to start without one.
    upload_storage: Literal["auto", "folder", "database"] = "auto"

    # Recipient journey.
    default_link_lifetime_hours: int = 72
    # The wrong-answer limit a new campaign starts with (Campaign.max_wrong_answers
    # is the owner from then on; services.journey.wrong_answer_limit reads it).
    max_wrong_answers: int = 5

    # REST API: how many reverse proxies in front of the app append to
    # X-Forwarded-For (0: the client address is the connection's), and the
    # default per-key request rate.
    api_trusted_proxies: int = 0
    api_rate_per_minute: int = 120
    # Outbound webhooks: request timeout, and whether private/loopback target
    # addresses are allowed (see ``webhook_private_targets_allowed``).
    webhook_timeout_seconds: float = 10.0
    # --- issue 18 (security defaults) -------------------------------------
    # None (the default): allowed only in the embedded demo (built-in SMS
    # simulator and payment sandbox); refused with any real provider.
    webhook_allow_private_targets: bool | None = None
    # The address scripts/run.sh listens on (loopback unless asked otherwise).
    # When the app is reachable from elsewhere (this, or public_base_url, not
    # loopback) the demo password must be changed at its first sign-in.
    host: str = "127.0.0.1"
    # Sign-in password checks (argon2) run off the event loop: this many at
    # once, this many more waiting; beyond, sign-in answers "busy" at once.
    sign_in_hash_concurrency: int = 1
    sign_in_waiting_max: int = 4
    sign_in_checks_per_second: int = 3
    # --- end issue 18 -----------------------------------------------------

    # --- issue 17 (several processes) ---------------------------------------
    # Where the limits that must hold across processes keep their events
    # (domain/limits.py): auto = Redis when a Redis URL is set (Reflex then
    # runs several workers), this process's memory otherwise; "database" for
    # several processes on one database without Redis. The client address they
    # are keyed on is the one ``api_trusted_proxies`` proxies report
    # (services/api_keys.client_address), for the recipient pages as for the API.
    limits_backend: Literal["auto", "memory", "database", "redis"] = "auto"
    # Redis for smspay's own shared data (empty: REFLEX_REDIS_URL if set).
    redis_url: str = ""
    # Database connections per process (PostgreSQL; SQLAlchemy's defaults):
    # every process may open pool size + overflow, so processes x (size +
    # overflow) must stay under the server's max_connections (100 by default).
    db_pool_size: int = 5
    db_max_overflow: int = 10
    # --- end issue 17 -----------------------------------------------------

    # First start creates a demo organisation and admin.
    seed_demo: bool = True
    demo_email: str = "admin@example.com"
    demo_password: str = "smspay-demo"

    # Onboarding (issue 19, services/installation.py): without the demo, the
    # first start prints a one-time link for the installation owner's account,
    # valid this many hours.
    setup_link_hours: int = 24
    # Self-service sign-up at /signup: a business applies, the owner approves
    # or rejects it on the Organisations page.
    self_signup: bool = False

    @property
    def several_processes(self) -> bool:
        """Several app processes share the work: a Redis URL is set (Reflex then
        runs several workers, and a deployment several app processes)."""
        import os

        return bool(self.redis_url or os.environ.get("REFLEX_REDIS_URL"))

    @property
    def uploads_in_database(self) -> bool:
        return self.upload_storage == "database" or (self.upload_storage == "auto" and self.several_processes)

    @property
    def embedded_demo(self) -> bool:
        """The laptop demo: the built-in SMS simulator and payment sandbox."""
        return self.sms_provider == "simulator" and self.payment_provider == "sandbox"

    @property
    def reachable_from_elsewhere(self) -> bool:
        """The app listens on, or is published at, a non-loopback address."""
        import ipaddress
        from urllib.parse import urlsplit

        def loopback(host: str) -> bool:
            host = (host or "").strip("[]").lower()
            if host in ("localhost", "localhost."):
                return True
            try:
                return ipaddress.ip_address(host).is_loopback
            except ValueError:
                return False

        return not loopback(self.host) or not loopback(urlsplit(self.public_base_url).hostname or "")

    @property
    def webhook_private_targets_allowed(self) -> bool:
        """Outbound webhooks may reach http, loopback and private addresses:
        as set, else only in the embedded demo (issue 18, item 6: with the old
        default ``true`` an endpoint on 127.0.0.1 answered an internal secret
        into the delivery's excerpt and 169.254.169.254 was requested)."""
        if self.webhook_allow_private_targets is None:
            return self.embedded_demo
        return self.webhook_allow_private_targets

    @property
    def sms_api_base(self) -> str:
        return (self.twilio_api_base or f"{self.public_base_url}/sim/twilio").rstrip("/")

    @property
    def payment_api_base(self) -> str:
        """The fallback gateway's API root (the recipient pages allow forms to its origin)."""
        if self.payment_provider == "komoju":
            return self.komoju_api_base_url
        return (self.stripe_api_base or f"{self.public_base_url}/sim/stripe").rstrip("/")

    @property
    def komoju_api_base_url(self) -> str:
        """KOMOJU's API root (``.../api/v1``): the embedded sandbox unless set."""
        return (self.komoju_api_base or f"{self.public_base_url}/sim/komoju/api/v1").rstrip("/")

    @property
    def komoju_sandbox_in_use(self) -> bool:
        """The KOMOJU sandbox is mounted: with the embedded Stripe sandbox,
        or when KOMOJU is the fallback gateway and no API base is set."""
        return self.payment_provider == "sandbox" or (self.payment_provider == "komoju" and not self.komoju_api_base)


# --- issue 18 (security defaults): real providers need their own secrets ---
# The built-in simulator and sandbox sign with these public defaults; with a
# real provider they would let anyone forge a signed STOP or a payment (the
# 2026 attack run: a payment webhook signed with ``whsec_sandbox_secret``
# marked a payment ``succeeded``, a STOP signed with ``simulator-auth-token``
# opted a recipient out).
PUBLIC_DEFAULT_SECRETS = {
    "twilio_auth_token": "simulator-auth-token",
    "stripe_webhook_secret": "whsec_sandbox_secret",
    "komoju_webhook_secret": "komoju_sandbox_webhook_secret",
}


class ProviderSecretMissing(RuntimeError):
    """A real provider is configured without its own secret: the app refuses
    to start. The message names the setting."""


def missing_provider_secrets(settings: Settings) -> list[str]:
    """The environment variables a real provider still needs (empty: none)."""
    missing = []
    checks = (
        (settings.sms_provider == "twilio", "twilio_auth_token", "SMSPAY_SMS_PROVIDER=twilio"),
        (settings.payment_provider == "stripe", "stripe_webhook_secret", "SMSPAY_PAYMENT_PROVIDER=stripe"),
        (
            settings.payment_provider == "komoju" and bool(settings.komoju_api_base),
            "komoju_webhook_secret",
            "SMSPAY_PAYMENT_PROVIDER=komoju with SMSPAY_KOMOJU_API_BASE",
        ),
    )
    for in_use, name, why in checks:
        value = getattr(settings, name)
        if in_use and (not value.strip() or value == PUBLIC_DEFAULT_SECRETS[name]):
            missing.append(f"SMSPAY_{name.upper()} (needed by {why})")
    return missing


def require_provider_secrets(settings: Settings | None = None) -> None:
    """Refuse to start (``ProviderSecretMissing``) when a real provider has no
    secret of its own. Called by every entry point (web app, worker, start-up)."""
    missing = missing_provider_secrets(settings or get_settings())
    if missing:
        raise ProviderSecretMissing(
            "smspay will not start: set "
            + ", ".join(missing)
            + " to the provider's own secret (the built-in default is public and would let anyone forge webhooks)."
        )


# --- end issue 18 -------------------------------------------------------------


class StorageNotShared(RuntimeError):
    """Several app processes, uploads in a folder nobody said they share."""


def require_shared_storage(settings: Settings | None = None) -> None:
    """Refuse to start (``StorageNotShared``) when several processes run
    (issue 17) with uploads in the per-machine default folder: an import
    whose upload reached another process would find nothing."""
    settings = settings or get_settings()
    if settings.several_processes and settings.upload_storage == "folder" and not settings.upload_dir:
        raise StorageNotShared(
            "smspay will not start: several app processes run (a Redis URL is set) and uploads are kept in"
            " each machine's own data/uploads. Set SMSPAY_UPLOAD_DIR to a folder every app process shares,"
            " or SMSPAY_UPLOAD_STORAGE=database (or auto)."
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
