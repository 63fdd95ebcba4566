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
    payment_provider: Literal["sandbox", "stripe"] = "sandbox"
    stripe_api_base: str = ""  # empty: the sandbox mounted in this server
    stripe_secret_key: str = "sk_test_sandbox"
    stripe_webhook_secret: str = "whsec_sandbox_secret"

    # Background work in the app's lifespan (also runnable as its own process).
    run_worker_in_app: bool = True
    worker_poll_seconds: float = 0.5

    # Uploaded recipient files wait here (never in UI state) between the
    # mapping step and the import; empty: data/uploads. Deleted after import.
    upload_dir: str = ""
    upload_max_age_hours: int = 24

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
    # addresses are allowed (true for laptops and tests; false in production).
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private_targets: bool = True

    # First start creates a demo organisation and admin.
    seed_demo: bool = True
    demo_email: str = "admin@example.com"
    demo_password: str = "smspay-demo"

    @property
    def sms_api_base(self) -> str:
        return (self.twilio_api_base or f"{self.public_base_url}/sim/twilio").rstrip("/")

    @property
    def payment_api_base(self) -> str:
        return (self.stripe_api_base or f"{self.public_base_url}/sim/stripe").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
