"""Issue 18, item 8 (Medium): a real provider without its own secret refuses
to start, with a message naming the setting.

The attack run configured Stripe and Twilio but left their webhook secret /
auth token unset: the app started without a word, a payment webhook signed
with the built-in ``whsec_sandbox_secret`` marked a payment ``succeeded`` and
a STOP signed with ``simulator-auth-token`` opted a recipient out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smspay_app.settings import ProviderSecretMissing, get_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMSPAY_SMS_PROVIDER": "twilio"}, "SMSPAY_TWILIO_AUTH_TOKEN"),
        (
            {"SMSPAY_SMS_PROVIDER": "twilio", "SMSPAY_TWILIO_AUTH_TOKEN": "simulator-auth-token"},
            "SMSPAY_TWILIO_AUTH_TOKEN",
        ),
        ({"SMSPAY_PAYMENT_PROVIDER": "stripe"}, "SMSPAY_STRIPE_WEBHOOK_SECRET"),
        ({"SMSPAY_PAYMENT_PROVIDER": "stripe", "SMSPAY_STRIPE_WEBHOOK_SECRET": " "}, "SMSPAY_STRIPE_WEBHOOK_SECRET"),
    ],
)
def test_the_web_app_refuses_to_start_with_a_real_provider_and_a_public_default_secret(
    settings, monkeypatch, env, named
):
    """Finding 8: the web app (what Reflex mounts) is not built."""
    from smspay_app.web.app import build_web_app

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    with pytest.raises(ProviderSecretMissing) as err:
        build_web_app()
    assert named in str(err.value) and "will not start" in str(err.value)
    get_settings.cache_clear()


def test_real_providers_with_their_own_secrets_start(settings, monkeypatch):
    from smspay_app.web.app import build_web_app

    monkeypatch.setenv("SMSPAY_SMS_PROVIDER", "twilio")
    monkeypatch.setenv("SMSPAY_TWILIO_AUTH_TOKEN", "a-real-token")
    monkeypatch.setenv("SMSPAY_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("SMSPAY_STRIPE_WEBHOOK_SECRET", "whsec_real")
    get_settings.cache_clear()
    build_web_app()
    get_settings.cache_clear()


@pytest.mark.parametrize("module", ["smspay_app.worker", "smspay_app.startup"])
def test_the_worker_and_the_start_up_refuse_with_the_settings_name(settings, module):
    """Finding 8: ``python -m smspay_app.worker`` and the start-up step that
    ``scripts/run.sh`` runs exit with a message naming the setting."""
    env = {
        **os.environ,
        "SMSPAY_DATABASE_URL": settings.database_url,
        "SMSPAY_SECRET_KEY": "x",
        "SMSPAY_PAYMENT_PROVIDER": "stripe",
        "SMSPAY_STRIPE_WEBHOOK_SECRET": "",
    }
    env.pop("SMSPAY_STRIPE_WEBHOOK_SECRET_FILE", None)
    args = [sys.executable, "-m", module] + (["--once"] if module.endswith("worker") else [])
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "SMSPAY_STRIPE_WEBHOOK_SECRET" in done.stderr and "Traceback" not in done.stderr
