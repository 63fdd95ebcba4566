"""The editor's phone preview (issue 15 item 7): the SMS as received with its
size under it, and on the page step the recipient page (title, message with
sample values, invoice lines, total, due date, the button) in the
recipients' language, not the operator's."""

from __future__ import annotations

from smspay_app.i18n import t
from tests.factories import make_org, signed_in
from tests.test_admin_handlers import _state, app_module  # noqa: F401  (fixture)


def test_the_phone_shows_the_sms_with_its_size_and_the_recipient_page(app_module, session):  # noqa: F811
    from smspay_app.pages.campaigns import CampaignEditorState

    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    editor = _state(CampaignEditorState, token)
    editor.lang = "en"  # the operator's UI; the recipients read Japanese
    CampaignEditorState.start.fn(editor)
    assert editor.sms_preview and editor.sms_segments.endswith("characters")
    assert f"{len(editor.sms_preview)} characters" in editor.sms_segments

    editor.page_title, editor.page_message = "12月分のご請求", "{{name}}様、いつもありがとうございます。"
    CampaignEditorState.add_line.fn(editor)
    CampaignEditorState.set_line.fn(editor, 0, "item", "基本料金")
    CampaignEditorState.set_line.fn(editor, 0, "quantity", "2")
    CampaignEditorState.set_line.fn(editor, 0, "unit_price", "1,500")
    editor.due_date = "2030/12/25"
    page = editor.page_preview
    assert page["title"] == "12月分のご請求"
    assert page["message"].endswith("様、いつもありがとうございます。") and "{{" not in page["message"]
    assert page["total"] == "¥3,000" and page["total_label"] == t("recipient.total", "ja")
    assert page["pay"] == t("recipient.pay_button", "ja") and page["due"] == "お支払い期限: 2030年12月25日"
    assert editor.page_preview_lines == [{"item": "基本料金", "detail": "2 × ¥1,500", "total": "¥3,000"}]

    CampaignEditorState.set_recipient_lang.fn(editor, "en")
    assert editor.page_preview["pay"] == t("recipient.pay_button", "en")
    assert editor.page_preview["due"] == "Due date: 25 Dec 2030"
