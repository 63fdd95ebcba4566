"""The support pages' entry point to the recipient actions of
``services.actions`` (the same functions the REST API and the worker call):
``run_action`` dispatches one of ``ACTIONS`` by name. The names below are kept
for the pages and tests that import them from here."""

from __future__ import annotations

from sqlmodel import Session

from smspay_app.services import actions
from smspay_app.services.actions import (
    CLOSED_RECIPIENT_STATES,
    MAX_EXTEND_HOURS,
    MAX_REASON,
    MIN_REASON,
    PERMISSION,
    SENDABLE_CAMPAIGN_STATES,
    ActionRefused,
    ActionResult,
    cancel_recipient,
    clean_reason,
    current_link,
    extend_link,
    load_recipient,
    mark_paid_outside,
    reissue_link,
    resend,
    unlock_link,
)
from smspay_app.services.auth import Caller

# The support pages' refusal: the actions' (same class, old name).
SupportError = ActionRefused

ACTIONS = ("reissue", "resend", "extend", "unlock", "cancel", "mark_paid", "record_partial_payment", "refund")

__all__ = [
    "ACTIONS",
    "CLOSED_RECIPIENT_STATES",
    "MAX_EXTEND_HOURS",
    "MAX_REASON",
    "MIN_REASON",
    "PERMISSION",
    "SENDABLE_CAMPAIGN_STATES",
    "ActionResult",
    "SupportError",
    "cancel_recipient",
    "clean_reason",
    "current_link",
    "extend_link",
    "load_recipient",
    "mark_paid_outside",
    "reissue_link",
    "resend",
    "run_action",
    "unlock_link",
]


def run_action(
    session: Session,
    caller: Caller,
    action: str,
    recipient_id: int,
    reason: str,
    *,
    hours: int | None = None,
    override_quiet_hours: bool = False,
    amount_yen: int | None = None,
) -> ActionResult:
    """One entry point for the UI: dispatch ``action`` (one of ``ACTIONS``).
    Flushes; the page handler's ``db.session_scope()`` commits."""
    if action == "reissue":
        return reissue_link(session, caller, recipient_id, reason, override_quiet_hours=override_quiet_hours)
    if action == "resend":
        return resend(session, caller, recipient_id, reason, override_quiet_hours=override_quiet_hours)
    if action == "extend":
        return extend_link(session, caller, recipient_id, reason, hours if hours is not None else 72)
    if action == "unlock":
        return unlock_link(session, caller, recipient_id, reason)
    if action == "cancel":
        return cancel_recipient(session, caller, recipient_id, reason)
    if action == "mark_paid":
        return mark_paid_outside(session, caller, recipient_id, reason, amount_yen)
    if action == "record_partial_payment":
        return actions.record_partial_payment(session, caller, recipient_id, amount_yen, reason)
    if action == "refund":
        return actions.refund_payment(session, caller, recipient_id, amount_yen, reason)
    raise SupportError("ops.error.unknown_action")
