"""Property-based run over the OpenAPI document (schemathesis): every
operation of /api/v1 gets generated requests against the live server with a
real key and data; no response may be a 5xx, an undocumented status, or break
its documented schema (success bodies and the one error shape alike)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smspay_app.web import api as api_web
from tests.factories import make_admin, make_key
from tests.helpers import CAMPAIGN, api_client, idem

MAX_EXAMPLES = 40  # per operation: about 30 s for the whole run on a busy 2-core machine
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_conforms_to_its_openapi_document(live_server, session):
    api_web.rate_limiter.reset()
    admin = make_admin(session)
    key = make_key(session, admin, rate_limit_per_minute=100_000)
    with api_client(live_server, key) as api:  # some real rows for generated ids to hit
        campaign = api.post("/api/v1/campaigns", json={**CAMPAIGN, "questions": []}, headers=idem()).json()
        api.post(
            "/api/v1/payment-requests",
            json={"campaign_id": campaign["id"], "recipient": {"phone": "09012340000", "name": "山田"}},
            headers=idem(),
        )
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/api/v1/openapi.json")
    base_url, headers = f"{live_server.base_url}/api", {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16  # + GET /v1/sms/capabilities, GET /v1/connections (issue 13)

    for operation in operations:

        @given(case=operation.as_strategy())
        @hsettings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def conforms(case):
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

        conforms()
