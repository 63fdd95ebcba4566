"""The link lifetime limit has one owner, ``domain.links``: the editor's
validation, the REST API's schema and every text that spells the limit
(UI texts in both languages, the README) follow it."""

from __future__ import annotations

from pathlib import Path

from smspay_app.domain.links import MAX_LIFETIME_DAYS, MAX_LIFETIME_HOURS, MIN_LIFETIME_HOURS
from smspay_app.i18n import LANGUAGES, t
from smspay_app.models import Organisation
from smspay_app.services import campaigns

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_limit_in_hours_is_the_limit_in_days():
    assert MAX_LIFETIME_HOURS == MAX_LIFETIME_DAYS * 24


def _lifetime_errors(hours: int) -> list[str]:
    org = Organisation(name="o", sender_name="o")
    data = campaigns.CampaignInput(name="n", sms_template="{{link}}", amount_yen=100, link_lifetime_hours=hours)
    return [e.key for e in campaigns.validate(data, org) if e.field == "link_lifetime_hours"]


def test_the_editor_accepts_the_limits_and_refuses_one_hour_beyond():
    assert _lifetime_errors(MIN_LIFETIME_HOURS) == []
    assert _lifetime_errors(MAX_LIFETIME_HOURS) == []
    assert _lifetime_errors(MAX_LIFETIME_HOURS + 1) == ["campaign.error.lifetime_range"]
    assert _lifetime_errors(MIN_LIFETIME_HOURS - 1) == ["campaign.error.lifetime_range"]


def _schema_bounds(schema: dict) -> tuple[int | None, int | None]:
    options = schema.get("anyOf", [schema])
    (integer,) = [o for o in options if o.get("type") == "integer"]
    return integer.get("minimum"), integer.get("maximum")


def test_the_api_schema_has_the_same_bounds():
    from smspay_app.web.api import create_api

    document = create_api().openapi()
    fields = [
        props["link_lifetime_hours"]
        for schema in document["components"]["schemas"].values()
        if (props := schema.get("properties", {}))
        and "link_lifetime_hours" in props
        and "anyOf" in props["link_lifetime_hours"]
    ]
    assert fields, "no optional link_lifetime_hours in the API's input schemas"
    assert {_schema_bounds(f) for f in fields} == {(MIN_LIFETIME_HOURS, MAX_LIFETIME_HOURS)}


def test_every_text_spells_the_limit_of_the_owner():
    days = {"ja": f"{MAX_LIFETIME_DAYS}日", "en": f"{MAX_LIFETIME_DAYS} days"}
    for lang in LANGUAGES:
        error = t("campaign.error.lifetime_range", lang)
        assert days[lang] in error and str(MAX_LIFETIME_HOURS) in error, error
        assert days[lang] in t("editor.lifetime.help", lang)
    assert f"{MIN_LIFETIME_HOURS} hour to {MAX_LIFETIME_DAYS} days" in README.read_text(encoding="utf-8")
