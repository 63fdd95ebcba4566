"""One renderer for the SMS a recipient receives: the editor's preview and the
SMS the dispatcher actually hands to the provider (read back from the SMS
simulator over real HTTP) are the same bytes, whatever the sender name looks
like; the one-time code SMS carries the same sender prefix; the sender prefix
and the merge fields have one definition each in the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smspay_app.domain.sms_text import fields_from_merge_data
from smspay_app.models import Campaign, Organisation, Recipient
from smspay_app.services import journey, sending, sms_message
from smspay_app.worker import run_dispatcher_once
from tests.factories import make_journey, make_org

ROOT = Path(__file__).resolve().parents[1] / "smspay_app"
LINK_RE = re.compile(r"http://\S+/l/[0-9A-Za-z]{22}")


def _received(live_server, settings, to: str) -> list[str]:
    """Bodies the SMS simulator accepted for ``to`` (Twilio's list API)."""
    path = f"/sim/twilio/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json"
    with live_server.client(auth=(settings.twilio_account_sid, settings.twilio_auth_token)) as client:
        response = client.get(path, params={"To": to})
    assert response.status_code == 200
    return [m["body"] for m in response.json()["messages"]]


def _campaign_with_one_recipient(session, sender_name: str, template: str) -> tuple[Campaign, Recipient]:
    org = make_org(session, name="ABC商事株式会社", sender_name=sender_name)
    campaign = Campaign(organisation_id=org.id, name="4月分", sms_template=template, reminder_template="")
    session.add(campaign)
    session.commit()
    recipient = Recipient(
        campaign_id=campaign.id,
        organisation_id=org.id,
        phone_e164="+819011112222",
        name="山田",  # {{name}} comes from the recipient when the row has no such column
        merge_data=json.dumps({"金額": "4,980", "備考": None}, ensure_ascii=False),
        row_number=1,
    )
    session.add(recipient)
    session.commit()
    return campaign, recipient


@pytest.mark.parametrize(
    ("sender_name", "prefix"),
    [("［ABC商事］", "［ABC商事］"), ("ABC商事", "【ABC商事】")],
)
async def test_editor_preview_and_the_sms_sent_are_byte_identical(live_server, session, settings, sender_name, prefix):
    template = "{{name}}様 {{金額}}円のご請求です {{link}}"
    campaign, recipient = _campaign_with_one_recipient(session, sender_name, template)
    org = session.get(Organisation, campaign.organisation_id)

    preview = sms_message.editor_preview(session, org, campaign, campaign.sms_template, lang="ja")
    assert preview.row == 1
    assert preview.text.startswith(f"{prefix}山田様 4,980円のご請求です ")

    assert sending.start_sending(session, campaign) == 1
    session.commit()
    assert await run_dispatcher_once() == 1
    (sent,) = _received(live_server, settings, recipient.phone_e164)

    # The token is the only difference (the preview shows a link as long as a real one).
    (real_link,) = LINK_RE.findall(sent)
    sample_link = sms_message.sample_link_url()
    assert len(sample_link) == len(real_link)
    assert sent.replace(real_link, sample_link) == preview.text
    assert sent.encode() == preview.text.replace(sample_link, real_link).encode()
    # The send check's estimate measured that very text.
    estimate = sms_message.estimate_campaign_sms(session, campaign)
    assert estimate.errors == [] and estimate.worst.chars == len(sent)


async def test_a_reminder_sends_the_reminder_template_through_the_same_renderer(live_server, session, settings):
    campaign, recipient = _campaign_with_one_recipient(session, "［ABC商事］", "{{name}}様 ご請求 {{link}}")
    campaign.reminder_template = "{{name}}様 お支払いがまだです {{link}}"
    session.add(campaign)
    session.commit()
    org = session.get(Organisation, campaign.organisation_id)
    reminder = sms_message.render_for_recipient(campaign, org, recipient, "L", kind="reminder")
    assert reminder == "［ABC商事］山田様 お支払いがまだです L"
    assert sms_message.render_for_recipient(campaign, org, recipient, "L") == "［ABC商事］山田様 ご請求 L"


def test_preview_before_import_uses_sample_values_with_the_same_prefix(session, settings):
    org = make_org(session, sender_name="［ABC商事］")
    preview = sms_message.editor_preview(session, org, None, "{{name}}様 {{金額}}円", lang="ja")
    assert preview.row is None and preview.estimate is None
    sample = sms_message.sample_link_url()
    assert preview.text == f"［ABC商事］山田 太郎様 {'あ' * 20}円 {sample}"


def test_one_time_code_sms_has_the_sender_prefix(live_server, session, settings):
    j = make_journey(session, verification_mode="otp", answers={})
    org = session.get(Organisation, j.organisation_id)
    org.sender_name = "［ABC商事］"
    session.add(org)
    session.commit()
    ctx = journey.load_context(session, j.token)
    assert journey.request_otp(session, ctx, lang="ja").sent
    session.commit()
    recipient = session.get(Recipient, j.recipient_id)
    (text,) = _received(live_server, settings, recipient.phone_e164)
    assert text.startswith("［ABC商事］確認コード: ") and "【" not in text
    assert sms_message.render_otp_sms(org, "123456", 10, "en").startswith("［ABC商事］Your code: 123456")


def test_merge_fields_have_one_definition():
    fields = fields_from_merge_data('{"a": 1, "b": null, "name": "x"}', "ignored", amount_yen=4980)
    # amounts as ¥4,980 and dates as people read them, merge fields included (issue 12; was "4,980")
    assert fields == {"a": "1", "b": "", "name": "x", "amount": "¥4,980"}
    imported = fields_from_merge_data('{"amount": "12800", "due_date": "2026-12-10"}')
    assert imported == {"amount": "¥12,800", "due_date": "2026年12月10日"}
    assert fields_from_merge_data('{"due_date": "2026-12-10"}', lang="en") == {"due_date": "10 Dec 2026"}
    assert fields_from_merge_data("not json", "山田") == {"name": "山田"}
    assert fields_from_merge_data('["a list"]') == {}


def _sources() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted(ROOT.rglob("*.py"))}


def test_grep_finds_one_sender_prefix_and_one_merge_field_computation():
    sources = _sources()
    # The prefix is built in one place: no other module wraps a name in 【】.
    bracket = re.compile(r"""f["']【\{""")
    assert [p for p, s in sources.items() if bracket.search(s)] == ["domain/sms_text.py"]
    assert [p for p, s in sources.items() if "def sender_prefix_for(" in s] == ["domain/sms_text.py"]
    # Merge fields: only domain.sms_text parses merge_data or defaults {{name}}.
    assert [p for p, s in sources.items() if 'setdefault("name"' in s] == ["domain/sms_text.py"]
    assert [p for p, s in sources.items() if re.search(r"json\.loads\([^)]*merge_data", s)] == ["domain/sms_text.py"]
    # The merge itself: only the renderer calls it (the editor page goes through sms_message.editor_preview).
    callers = {p for p, s in sources.items() if "render_sms(" in s and p != "domain/sms_text.py"}
    assert callers == {"services/sms_message.py"}


@pytest.mark.parametrize("sender_name", ["［ABC商事］", "ABC商事"])
def test_the_editor_page_shows_the_sms_the_dispatcher_sends(live_server, session, settings, sender_name):
    """The preview as the staff see it (the editor page's state) is the SMS sent.
    (Synchronous: Reflex's state registration lives in the main thread's context.)"""
    import asyncio

    import reflex as rx

    import smspay_app.smspay_app  # noqa: F401 - registers the pages and their route args
    from smspay_app.pages.campaigns import CampaignEditorState
    from smspay_app.services import auth

    campaign, recipient = _campaign_with_one_recipient(session, sender_name, "{{name}}様 {{金額}}円です {{link}}")
    org = session.get(Organisation, campaign.organisation_id)
    auth.create_user(session, org, "admin@example.com", "correct horse battery", role="admin")
    session.commit()
    token, _ = auth.sign_in(session, "admin@example.com", "correct horse battery")
    session.commit()  # the page reads the session through its own connection
    root = rx.State(_reflex_internal_init=True)
    root.router_data = root._update_router_vars(
        {"query": {"campaign_id": str(campaign.id)}, "pathname": f"/campaigns/{campaign.id}/edit"}, {}
    )
    editor = root.get_substate(CampaignEditorState.get_full_name().split("."))
    editor._bind_session(token)
    CampaignEditorState.start_edit.fn(editor)

    assert sending.start_sending(session, campaign) == 1
    session.commit()
    assert asyncio.run(run_dispatcher_once()) == 1
    (sent,) = _received(live_server, settings, recipient.phone_e164)
    (real_link,) = LINK_RE.findall(sent)
    assert sent.replace(real_link, sms_message.sample_link_url()) == editor.sms_preview
