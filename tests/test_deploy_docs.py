"""Issue 17: the README's "Beyond one machine" section, the Compose example
and tests/e2e/test_scale_out.py describe one layout: every setting the test
gives the app processes is in the Compose file and named in the README, both
use deploy/nginx.conf.template, and the pool sizes keep 11 processes under
PostgreSQL's default 100 connections."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = [
    "REFLEX_REDIS_URL",
    "REFLEX_API_URL",
    "SMSPAY_RUN_WORKER_IN_APP",
    "SMSPAY_API_TRUSTED_PROXIES",
    "SMSPAY_DB_POOL_SIZE",
    "SMSPAY_DB_MAX_OVERFLOW",
    "__REFLEX_SKIP_COMPILE",
    "__REFLEX_MOUNT_FRONTEND_COMPILED_APP",
    "REFLEX_ENV_MODE",
]


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Beyond one machine", 1)[1].split("\n## ", 1)[0]


def test_the_readme_compose_and_test_name_the_same_settings():
    section = _section()
    test = (ROOT / "tests" / "e2e" / "test_scale_out.py").read_text(encoding="utf-8")
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    app_env = compose["services"]["app1"]["environment"]
    for name in REQUIRED:
        assert name in section, name
        assert f'"{name}"' in test, name
        assert name in app_env, name
    assert "SMSPAY_UPLOAD_STORAGE" in section and "SMSPAY_UPLOAD_DIR" in section
    assert compose["services"]["worker"]["deploy"]["replicas"] == 2
    assert {"app1", "app2", "postgres", "redis", "proxy"} <= set(compose["services"])


def test_both_use_the_one_proxy_template_and_it_carries_websockets():
    compose = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    test = (ROOT / "tests" / "e2e" / "test_scale_out.py").read_text(encoding="utf-8")
    template = (ROOT / "deploy" / "nginx.conf.template").read_text(encoding="utf-8")
    assert "./nginx.conf.template:" in compose and '"nginx.conf.template"' in test
    assert "Upgrade $http_upgrade" in template and "X-Forwarded-For $proxy_add_x_forwarded_for" in template
    assert set(re.findall(r"\$\{(SMSPAY_[A-Z0-9_]+)\}", template)) == {
        "SMSPAY_APP_1",
        "SMSPAY_APP_2",
        "SMSPAY_PROXY_LISTEN",
    }


def test_the_pool_sizes_keep_eleven_processes_under_one_hundred_connections():
    env = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))["x-smspay-env"]
    per_process = int(env["SMSPAY_DB_POOL_SIZE"]) + int(env["SMSPAY_DB_MAX_OVERFLOW"])
    assert 11 * per_process < 100
    assert f"11 processes x {per_process} = {11 * per_process}" in (ROOT / "deploy" / "compose.yaml").read_text()


def test_the_pool_settings_size_each_processs_postgresql_pool(settings, monkeypatch):
    from smspay_app import db
    from smspay_app.settings import get_settings

    monkeypatch.setenv("SMSPAY_DB_POOL_SIZE", "4")
    monkeypatch.setenv("SMSPAY_DB_MAX_OVERFLOW", "3")
    get_settings.cache_clear()
    engine = db.engine_for("postgresql+psycopg://nobody@127.0.0.1:1/none")  # no connection is made
    try:
        assert engine.pool.size() == 4 and engine.pool._max_overflow == 3
    finally:
        engine.dispose()
        db.engine_for.cache_clear()
