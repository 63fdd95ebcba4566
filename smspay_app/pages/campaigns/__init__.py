"""Campaign pages, one module per panel, each substate beside its components:

- ``listing``: the campaign list (``CampaignListState``).
- ``editor_state``, ``editor_steps``, ``editor``: the guided editor with its
  live phone preview (``CampaignEditorState``).
- ``detail``: the campaign page put together, and what opening it loads
  (``DETAIL_ON_LOAD``), from ``header`` (name, counts, progress, actions:
  ``CampaignDetailState``, the only state the 2-second tick reloads),
  ``send_check`` (``SendCheckState``), ``importing`` (upload, mapping,
  background import: ``ImportState``) and ``recipients_table``
  (``RecipientTableState``).
- ``shared``: the status badge, the route's campaign id, form controls.

Handlers check the caller (``state.require``) and call services; bulk data
stays in the database."""

from smspay_app.pages.campaigns.detail import DETAIL_ON_LOAD, campaign_detail_page
from smspay_app.pages.campaigns.editor import campaign_new_page
from smspay_app.pages.campaigns.editor_state import CampaignEditorState
from smspay_app.pages.campaigns.header import CampaignDetailState
from smspay_app.pages.campaigns.importing import ImportState
from smspay_app.pages.campaigns.listing import CampaignListState, campaigns_list_page
from smspay_app.pages.campaigns.recipients_table import RecipientTableState
from smspay_app.pages.campaigns.send_check import SendCheckState

__all__ = [
    "DETAIL_ON_LOAD",
    "CampaignDetailState",
    "CampaignEditorState",
    "CampaignListState",
    "ImportState",
    "RecipientTableState",
    "SendCheckState",
    "campaign_detail_page",
    "campaign_new_page",
    "campaigns_list_page",
]
