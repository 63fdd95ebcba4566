"""A campaign's recipient language (issue 15 item 11): a campaign created in
the English UI starts with Japanese texts (the recipients' language defaults
to Japanese), switching the recipients' language swaps the untouched default
texts, and the choice is saved on the campaign."""

from __future__ import annotations

from sqlmodel import select

from smspay_app.i18n import t
from smspay_app.models import Campaign
from tests.factories import make_org, signed_in
from tests.test_admin_handlers import _state, app_module  # noqa: F401  (fixture)


def test_english_ui_creates_japanese_texts_by_default(app_module, session):  # noqa: F811
    from smspay_app.pages.campaigns import CampaignEditorState

    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    editor = _state(CampaignEditorState, token)
    editor.lang = "en"  # the operator's UI is English
    CampaignEditorState.start.fn(editor)
    assert editor.recipient_lang == "ja"
    assert editor.template == t("editor.template.default", "ja") != t("editor.template.default", "en")
    assert editor.page_message == t("editor.page_message.default", "ja")
    assert "Dear" not in editor.template and "Dear" not in editor.sms_preview
    CampaignEditorState.submit.fn(editor, {"name": "Japanese customers", "amount_yen": "1000"})
    assert editor.errors == []
    session.expire_all()
    saved = session.exec(select(Campaign).where(Campaign.name == "Japanese customers")).one()
    assert saved.recipient_language == "ja" and saved.sms_template == t("editor.template.default", "ja")


def test_switching_the_recipient_language_swaps_only_default_texts(app_module, session):  # noqa: F811
    from smspay_app.pages.campaigns import CampaignEditorState

    org = make_org(session)
    token, _ = signed_in(session, org, "admin")
    editor = _state(CampaignEditorState, token)
    CampaignEditorState.start.fn(editor)
    editor.page_message = "いつもありがとうございます。"  # edited: stays
    CampaignEditorState.set_recipient_lang.fn(editor, "en")
    assert editor.recipient_lang == "en"
    assert editor.template == t("editor.template.default", "en")
    assert editor.page_message == "いつもありがとうございます。"
    CampaignEditorState.submit.fn(editor, {"name": "English customers", "amount_yen": "1000"})
    session.expire_all()
    assert session.exec(select(Campaign).where(Campaign.name == "English customers")).one().recipient_language == "en"


def test_recipient_pages_follow_the_campaigns_recipient_language(live_server, session):
    from smspay_app.web import recipient as recipient_web
    from tests.factories import make_journey
    from tests.helpers import BROWSER_UA
    from tests.test_qualified_invoice import _verify

    recipient_web.post_limiter.reset()
    j = make_journey(session, amount_yen=1000)
    campaign = session.get(Campaign, j.campaign_id)
    campaign.recipient_language = "en"
    session.add(campaign)
    session.commit()
    headers = {"User-Agent": BROWSER_UA, "Accept-Language": "ja-JP,ja;q=0.9"}
    with live_server.client(headers=headers) as client:
        landing = client.get(f"/l/{j.token}")
        assert 'lang="en"' in landing.text and t("recipient.verify_title", "en") in landing.text
        _verify(client, j)  # its form carries the page's language
        page = client.get(f"/l/{j.token}")
        assert 'lang="en"' in page.text and "Show the invoice" in page.text
        assert 'lang="en"' in client.get(f"/l/{j.token}/invoice").text
        assert 'lang="en"' in client.get(f"/l/{j.token}/optout").text
        # The recipient's own choice still wins (and is remembered).
        assert 'lang="ja"' in client.get(f"/l/{j.token}?lang=ja").text
        assert 'lang="ja"' in client.get(f"/l/{j.token}").text
    # A Japanese campaign stays Japanese for an English browser.
    campaign.recipient_language = "ja"
    session.add(campaign)
    session.commit()
    with live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": "en-US,en"}) as client:
        assert 'lang="ja"' in client.get(f"/l/{j.token}").text
    # An unknown link: the browser's language.
    with live_server.client(headers={"User-Agent": BROWSER_UA, "Accept-Language": "en-US,en"}) as client:
        assert 'lang="en"' in client.get("/l/doesnotexist123").text
