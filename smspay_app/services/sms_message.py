"""The SMS a recipient receives: one code path for the text the dispatcher
sends, the editor's preview, the size and cost estimates, the send check and
the template checks of the editor and the reminder rules.

- ``render_for_recipient(campaign, organisation, recipient, link_url, kind=...)``:
  the campaign's SMS (or its reminder template for a reminder attempt) with
  the recipient's merge fields, the organisation's sender prefix and the link.
- ``render_sample(organisation, template)``: the same text for a sample
  recipient (worst case: every merge value 20 wide characters) and a link as
  long as a real one; ``editor_preview`` shows the first imported recipient's
  real data, or display sample values before any import.
- ``render_otp_sms(organisation, code, minutes, lang)``: the one-time code SMS,
  with the same sender prefix.

The parts have one definition each: the prefix is
``domain.sms_text.sender_prefix_for``, the merge fields
``domain.sms_text.fields_from_merge_data``, the merge itself
``domain.sms_text.render_sms``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session, select

from smspay_app.domain.sms_text import (
    SmsInfo,
    TemplateEstimate,
    analyze_sms,
    check_template,
    estimate_template,
    example_link_url,
    fields_from_merge_data,
    render_sms,
    sender_prefix_for,
    template_fields,
)
from smspay_app.models import Campaign, Organisation, Recipient

TOKEN_LENGTH = 22  # domain.security.new_token(): 128 bits in base62
WORST_CASE_VALUE = "あ" * 20  # a merge value as long as we plan for, in wide characters
SAMPLE_NAME_FIELDS = ("name", "氏名")


def sender_prefix(organisation: Organisation | None) -> str:
    """The organisation's sender prefix (``【ABC商事】``; bracketed names kept)."""
    if organisation is None:
        return ""
    return sender_prefix_for(organisation.sender_name or organisation.name)


def recipient_fields(recipient: Recipient) -> dict[str, str]:
    """The merge fields of ``recipient``'s SMS: its row plus ``name``."""
    return fields_from_merge_data(recipient.merge_data, recipient.name)


def template_for(campaign: Campaign, kind: str = "initial") -> str:
    """The template an attempt of ``kind`` sends: a reminder uses the
    campaign's reminder template when it has one."""
    if kind == "reminder" and campaign.reminder_template:
        return campaign.reminder_template
    return campaign.sms_template


# ``session.info[OPT_OUT_NOTES] = {}``: opt_out_note works each (organisation,
# campaign's pick of connection) note out once for the session (the dispatcher
# renders a batch in one).
OPT_OUT_NOTES = "sms_message.opt_out_notes"


def opt_out_note(organisation: Organisation | None, campaign: Campaign | None = None) -> str:
    """The line every SMS ends with when the provider carries no replies
    (``capabilities_for(provider, country).two_way`` false, e.g. Twilio in
    Japan): STOP by reply cannot work there, so the SMS says the linked page
    has the opt-out link. '' when replies are carried. ``campaign``: its own
    SMS connection decides (else the organisation's default)."""
    from sqlalchemy.orm import object_session

    session = object_session(organisation) if organisation is not None else None
    notes = None
    if session is not None and organisation is not None and organisation.id is not None:
        notes = session.info.get(OPT_OUT_NOTES)
        key = (organisation.id, campaign.sms_connection_id if campaign is not None else None)
        if notes is not None and (note := notes.get(key)) is not None:
            return note
    from smspay_app.i18n import t
    from smspay_app.providers.sms.base import capabilities_for
    from smspay_app.services import connections
    from smspay_app.settings import get_settings

    country = (organisation.default_region if organisation else "") or "JP"
    provider = get_settings().sms_provider
    if session is not None and organisation is not None and organisation.id is not None:
        # The organisation's own SMS connection, when it has one (Karaden: no replies).
        provider = connections.sms_provider_name(session, organisation.id, campaign)
    note = "" if capabilities_for(provider, country).two_way else "\n" + t("recipient.optout_sms_note", "ja")
    if notes is not None:
        notes[key] = note
    return note


def render(
    organisation: Organisation | None,
    template: str,
    fields: Mapping[str, str],
    link_url: str,
    campaign: Campaign | None = None,
) -> str:
    """The SMS text for ``fields``: every other function here ends in this one
    (so previews and estimates count the opt-out note too; ``campaign``: its
    SMS route decides the note)."""
    return render_sms(template, fields, link_url, sender_prefix=sender_prefix(organisation)) + opt_out_note(
        organisation, campaign
    )


def render_for_recipient(
    campaign: Campaign,
    organisation: Organisation | None,
    recipient: Recipient,
    link_url: str,
    *,
    kind: str = "initial",
    template: str | None = None,
) -> str:
    """The SMS ``recipient`` receives for an attempt of ``kind`` with its link.
    ``template`` overrides the campaign's (the editor previews unsaved text).
    Raises ``TemplateError`` when a merge field does not fill."""
    text = template_for(campaign, kind) if template is None else template
    return render(organisation, text, recipient_fields(recipient), link_url, campaign)


def sample_link_url() -> str:
    """A link as long as a real one, for previews and estimates."""
    from smspay_app.services.links import LINK_PATH
    from smspay_app.settings import get_settings

    return example_link_url(get_settings().public_base_url, LINK_PATH, TOKEN_LENGTH)


def placeholder_fields(template: str) -> dict[str, str]:
    """Worst-case merge values for size checks before any recipient exists."""
    return {name: WORST_CASE_VALUE for name in template_fields(template)}


def sample_fields(template: str, lang: str) -> dict[str, str]:
    """Readable sample merge values for the editor's preview (a sample name
    for the name fields, realistic ones for amount, due date and customer
    number, a long sample value for the others)."""
    from smspay_app.i18n import CATALOG, t

    name, value = t("editor.preview.sample_name", lang), t("editor.preview.sample_value", lang)

    def sample(f: str) -> str:
        # Realistic values for the fields whose shape is known (issue 15
        # item 7: 20 あ for {{amount}} made the preview and estimate wrong).
        key = f"editor.preview.sample.{f}"
        return name if f in SAMPLE_NAME_FIELDS else t(key, lang) if key in CATALOG else value

    return {f: sample(f) for f in template_fields(template)}


def render_sample(
    organisation: Organisation | None,
    template: str,
    fields: Mapping[str, str] | None = None,
    campaign: Campaign | None = None,
) -> str:
    """The SMS for a sample recipient (``fields``, default the worst case) with
    a link as long as a real one. Raises ``TemplateError``."""
    sample = placeholder_fields(template) if fields is None else fields
    return render(organisation, template, sample, sample_link_url(), campaign)


def sample_over_cap(organisation: Organisation, template: str) -> bool:
    """True when the worst-case sample exceeds the organisation's carrier cap."""
    return analyze_sms(render_sample(organisation, template), organisation.carrier_char_cap).over_cap


def estimate_campaign_sms(
    session: Session, campaign: Campaign, template: str | None = None, *, limit: int | None = None
) -> TemplateEstimate:
    """Worst-case size, total segments and cost of ``template`` (default: the
    campaign's SMS template) over the campaign's recipients that are not
    cancelled, each rendered as ``render_for_recipient`` would (their merge
    fields, the sender prefix, a link as long as a real one), with the
    organisation's carrier cap and per-segment price. ``worst_row`` and
    ``errors[].index`` index the recipients in id order (streamed, never all in
    memory)."""
    org = session.get(Organisation, campaign.organisation_id)
    stmt = (
        select(Recipient.merge_data, Recipient.name)
        .where(Recipient.campaign_id == campaign.id, Recipient.cancelled_at.is_(None))
        .order_by(Recipient.id)
        .execution_options(yield_per=2000)
    )
    if limit:
        stmt = stmt.limit(limit)
    rows = (fields_from_merge_data(merge_data, name) for merge_data, name in session.execute(stmt))
    return estimate_template(
        campaign.sms_template if template is None else template,
        rows,
        sample_link_url(),
        sender_prefix=sender_prefix(org),
        suffix=opt_out_note(org, campaign),  # as render() ends every SMS: the campaign's route decides
        char_cap=org.carrier_char_cap if org else 660,
        price_per_segment_yen=org.segment_price_yen if org else 0.0,
    )


@dataclass(frozen=True)
class EditorPreview:
    """The editor's preview: ``text`` is the SMS as received (a sample link as
    long as a real one), ``row`` the row number of the recipient whose data it
    shows (None: sample values, no recipient yet), ``estimate`` the worst case
    over the imported recipients (None before any)."""

    text: str
    info: SmsInfo
    row: int | None
    estimate: TemplateEstimate | None


def editor_preview(
    session: Session,
    organisation: Organisation,
    campaign: Campaign | None,
    template: str,
    *,
    lang: str,
    limit: int | None = None,
) -> EditorPreview:
    """The preview of ``template`` (the editor's unsaved text) for the first
    recipient of ``campaign`` in id order, or for sample values before any
    import, with the estimate over at most ``limit`` recipients. Raises
    ``TemplateError`` when the template is invalid or does not fill."""
    check_template(template)
    first = None
    if campaign is not None and campaign.id is not None:
        first = session.exec(
            select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id).limit(1)
        ).first()
    if first is not None and campaign is not None:
        estimate = estimate_campaign_sms(session, campaign, template, limit=limit)
        text = render_for_recipient(campaign, organisation, first, sample_link_url(), template=template)
        row: int | None = first.row_number or 1
    else:
        estimate = None
        text = render_sample(organisation, template, sample_fields(template, lang), campaign)
        row = None
    return EditorPreview(text=text, info=analyze_sms(text, organisation.carrier_char_cap), row=row, estimate=estimate)


def render_otp_sms(organisation: Organisation, code: str, minutes: int, lang: str) -> str:
    """The one-time code SMS, with the organisation's sender prefix."""
    from smspay_app.i18n import t

    return t("recipient.otp_sms", lang, prefix=sender_prefix(organisation), code=code, minutes=minutes)
