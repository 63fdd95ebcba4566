"""One status vocabulary (issue 15 item 9): every state a recipient or a
campaign is shown in has one label in both languages and one colour, and the
states the operator must tell apart never share a colour."""

from __future__ import annotations

from smspay_app.components.funnel import STEP_COLORS
from smspay_app.components.layout import CAMPAIGN_STATUS_COLORS, FUNNEL_ACCENTS, RECIPIENT_STATUS_COLORS
from smspay_app.domain.campaigns import CampaignStatus
from smspay_app.domain.funnel import SHOWN_STATES
from smspay_app.i18n import CATALOG


def test_every_shown_state_has_one_label_and_one_colour():
    assert set(RECIPIENT_STATUS_COLORS) == set(SHOWN_STATES)
    for state in SHOWN_STATES:
        assert CATALOG[f"rstatus.{state}"]["ja"] and CATALOG[f"rstatus.{state}"]["en"]
    # ロック中, 取消 and 支払済み were one colour (the bug): now each its own.
    distinct = ("locked", "cancelled", "paid", "failed", "payment_pending", "opted_out", "expired")
    assert len({RECIPIENT_STATUS_COLORS[s] for s in distinct}) == len(distinct)


def test_campaign_states_use_the_same_meanings():
    assert set(CAMPAIGN_STATUS_COLORS) == {s.value for s in CampaignStatus}
    for state in CAMPAIGN_STATUS_COLORS:
        assert CATALOG[f"status.{state}"]["ja"] and CATALOG[f"status.{state}"]["en"]
    # Cancelled is a withdrawal everywhere (grey), never a failure's red.
    assert (
        CAMPAIGN_STATUS_COLORS["cancelled"] == RECIPIENT_STATUS_COLORS["cancelled"] != RECIPIENT_STATUS_COLORS["failed"]
    )


def test_the_chart_draws_the_cards_colours():
    assert [step for step, _ in FUNNEL_ACCENTS] == list(STEP_COLORS)
    assert all(RECIPIENT_STATUS_COLORS[step] == accent for step, accent in FUNNEL_ACCENTS)
