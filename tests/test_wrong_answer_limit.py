"""The wrong-answer limit has one owner: each campaign's ``max_wrong_answers``
(``services.journey.wrong_answer_limit`` locks the link at it). The setting
``SMSPAY_MAX_WRONG_ANSWERS`` is only the value a new campaign starts with, and
the README says exactly that, with the setting's default."""

from __future__ import annotations

import pathlib
import re

from smspay_app.models import Campaign
from smspay_app.services import journey
from smspay_app.settings import Settings, get_settings
from tests.factories import make_journey
from tests.helpers import reload

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_a_new_campaign_takes_the_setting(settings, monkeypatch):
    assert Campaign(organisation_id=1, name="c").max_wrong_answers == settings.max_wrong_answers
    monkeypatch.setenv("SMSPAY_MAX_WRONG_ANSWERS", "3")
    get_settings.cache_clear()
    assert Campaign(organisation_id=1, name="c").max_wrong_answers == 3


def test_the_campaign_limit_locks_the_link_whatever_the_setting(session, settings):
    assert settings.max_wrong_answers == 5
    j = make_journey(session, max_wrong_answers=2)
    results = []
    for _ in range(2):
        ctx = journey.load_context(session, j.token)
        assert journey.wrong_answer_limit(ctx.campaign) == 2
        results.append(journey.verify_answers(session, ctx, {q: "wrong" for q in j.question_ids}))
        session.commit()
    assert [r.reason for r in results] == ["wrong", "locked"]
    assert reload(session, Campaign, ctx.campaign.id).max_wrong_answers == 2


def test_the_readme_states_the_owner_and_the_default():
    text = " ".join(README.read_text(encoding="utf-8").split())
    match = re.search(
        r"(\d+) wrong answers \(each campaign's limit; new campaigns take `SMSPAY_MAX_WRONG_ANSWERS`\)", text
    )
    assert match, "README must say the campaign owns the limit and the setting is the default"
    assert int(match.group(1)) == Settings.model_fields["max_wrong_answers"].default
