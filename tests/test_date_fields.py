"""Date and time fields in the console (issue 15, the end date shown as
mm/dd/yyyy in the Japanese UI): a native date picker follows the browser's
locale, not the page's language, so every date/time field is a text field in
Japanese order and 24-hour (both languages), its format named beside it, read
and written by one owner, ``domain.formatting``."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from smspay_app.domain import clock
from smspay_app.domain.formatting import (
    input_date,
    input_datetime,
    local_input_to_utc,
    parse_input_date,
    parse_input_datetime,
    parse_input_time,
    people_month,
)
from smspay_app.i18n import t
from smspay_app.models import Campaign
from tests.factories import make_org, signed_in
from tests.test_admin_handlers import _state, app_module  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "text",
    [
        "2026/12/10 18:00",
        "2026-12-10T18:00",
        "2026-12-10 18:00",
        "2026年12月10日 18時00分",
        "２０２６／１２／１０　１８：００",
    ],
)
def test_a_typed_date_and_time_is_read_in_japanese_order(text):
    assert parse_input_datetime(text) == datetime(2026, 12, 10, 18, 0)


@pytest.mark.parametrize("text", ["", "2026/12/10", "12/10/2026 06:00 PM", "2026/13/10 10:00", "2026/12/10 24:00"])
def test_what_is_not_a_date_and_time_is_refused(text):
    assert parse_input_datetime(text) is None


def test_fields_show_japanese_order_and_24_hours():
    at = datetime(2026, 12, 10, 9, 5)  # naive UTC
    assert input_datetime(at, "Asia/Tokyo") == "2026/12/10 18:05"
    assert local_input_to_utc(input_datetime(at, "Asia/Tokyo"), "Asia/Tokyo") == at
    assert input_date(date(2026, 1, 2)) == "2026/01/02" and parse_input_date("2026/01/02") == date(2026, 1, 2)
    assert parse_input_time("9:00") == "09:00" and parse_input_time("２１：００") == "21:00"
    assert parse_input_time("25:00") is None
    assert people_month(2026, 12, "ja") == "2026年12月" and people_month(2026, 12, "en") == "Dec 2026"
    assert "24" in t("input.format.datetime", "ja") and "24-hour" in t("input.format.datetime", "en")


def test_no_console_page_uses_a_native_date_or_time_picker():
    native = re.compile(r"type=\"(date|datetime-local|time|month|week)\"")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "smspay_app").rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if native.search(line)
    ]
    assert found == []


def test_the_editor_reads_and_shows_dates_in_japanese_order(app_module, session):  # noqa: F811
    from smspay_app.pages.campaigns import CampaignDetailState, CampaignEditorState

    with clock.frozen(datetime(2030, 1, 1)):
        org = make_org(session)
        token, _ = signed_in(session, org, "admin")
        editor = _state(CampaignEditorState, token)
        CampaignEditorState.start.fn(editor)
        editor.send_mode, editor.scheduled_local = "at", "2030/12/10 18:00"
        editor.due_date = "2030/12/20"
        editor.quiet_mode, editor.quiet_start, editor.quiet_end = "override", "9:00", "18:00"
        CampaignEditorState.submit.fn(editor, {"name": "日付の確認", "amount_yen": "1000"})
        assert editor.errors == []
        session.expire_all()
        saved = session.exec(select(Campaign).where(Campaign.name == "日付の確認")).one()
        assert saved.scheduled_at == datetime(2030, 12, 10, 9, 0)  # 18:00 JST
        assert saved.due_date == date(2030, 12, 20)
        assert (saved.quiet_hours_start, saved.quiet_hours_end) == ("09:00", "18:00")

        again = _state(CampaignEditorState, token, saved.id)
        CampaignEditorState.start_edit.fn(again)
        assert again.scheduled_local == "2030/12/10 18:00" and again.due_date == "2030/12/20"

        detail = _state(CampaignDetailState, token, saved.id)
        CampaignDetailState.set_closes_local.fn(detail, "2030/12/31 23:30")
        CampaignDetailState.save_end.fn(detail)
        assert detail.action_ok, detail.action_message
        session.expire_all()
        assert session.get(Campaign, saved.id).closes_at == datetime(2030, 12, 31, 14, 30)
        CampaignDetailState.set_closes_local.fn(detail, "12/31/2030 11:30 PM")
        CampaignDetailState.save_end.fn(detail)
        assert not detail.action_ok
