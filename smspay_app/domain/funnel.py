"""The recipient funnel: one-way steps, each with its own first timestamp.

``created -> queued -> sent -> delivered -> clicked -> verified -> paid`` with side
exits ``failed``, ``expired``, ``locked``, ``opted_out``, ``cancelled``. Late,
repeated or out-of-order events never move a recipient backwards; every step
keeps the first time it happened, so the funnel is exact whatever the order."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

# Forward steps, in order. ``read`` (a notice confirmed as read) ranks with paid:
# it is the end of a notice-only journey.
FORWARD_STEPS: tuple[str, ...] = (
    "created",
    "queued",
    "sent",
    "delivered",
    "clicked",
    "verified",
    "read",
    "paid",
)
RANK = {step: i for i, step in enumerate(FORWARD_STEPS)}

# Side exits. ``failed`` (delivery failed) yields to any later forward proof
# (a click proves delivery); the others are terminal for the current link and
# only a staff action (reissue, unlock) or payment overrides them.
SIDE_EXITS: tuple[str, ...] = ("failed", "expired", "locked", "opted_out", "cancelled")

# Steps with a first-timestamp column ``<step>_at`` on the recipient.
TIMESTAMPED = ("queued", "sent", "delivered", "clicked", "verified", "read", "paid") + SIDE_EXITS

# Funnel shown on dashboards.
DASHBOARD_FUNNEL = ("sent", "delivered", "clicked", "verified", "paid")

# Not a funnel step but what the desk is shown (``shown_state``): a payment is
# under way (konbini or bank transfer started, money not yet in).
PAYMENT_PENDING = "payment_pending"
# Every state a recipient can be shown in (table, export, API): one vocabulary.
SHOWN_STATES: tuple[str, ...] = FORWARD_STEPS + SIDE_EXITS + (PAYMENT_PENDING,)
# Recipients whose state a pending payment does not change.
SETTLED = ("paid", "read", "cancelled", "opted_out")


class HasFunnel(Protocol):
    status: str


def next_status(current: str, step: str) -> str:
    """The status after ``step`` happens to a recipient whose status is ``current``."""
    if step not in RANK and step not in SIDE_EXITS:
        raise ValueError(f"unknown funnel step: {step}")
    if current == "paid":
        return "paid"  # nothing moves a paid recipient
    if step == "paid":
        return "paid"
    if current in ("opted_out", "cancelled"):
        return current
    if step in SIDE_EXITS:
        if step == "failed" and RANK.get(current, -1) >= RANK["delivered"]:
            return current  # a late failure report cannot undo a delivery or a click
        if step == "expired" and current in ("failed", "locked"):
            return current  # a link that could not be used does not expire: failed stays failed
        return step
    if current in SIDE_EXITS:
        # failed / expired / locked: later proof of progress wins only for "failed",
        # and only real proof of delivery (delivered or later): a late "sent"
        # report arriving after the failure report does not undo the failure.
        if current == "failed" and RANK[step] >= RANK["delivered"]:
            return step
        return current
    return step if RANK[step] > RANK[current] else current


def apply_step(recipient: HasFunnel, step: str, at: datetime) -> bool:
    """Record ``step`` at ``at`` on ``recipient``: keep the earliest timestamp for the
    step and move the status forward only. Returns True when anything changed."""
    changed = False
    column = f"{step}_at"
    if step in TIMESTAMPED:
        first = getattr(recipient, column)
        if first is None or at < first:
            setattr(recipient, column, at)
            changed = True
    new_status = next_status(recipient.status, step)
    if new_status != recipient.status:
        recipient.status = new_status
        changed = True
    return changed


def reopen(recipient: HasFunnel, status: str) -> None:
    """A staff action (reissue, unlock) returns a recipient from a side exit to
    the forward step it had reached, e.g. ``expired`` back to ``delivered``."""
    reached = "created"
    for step in FORWARD_STEPS[1:]:
        if getattr(recipient, f"{step}_at", None) is not None:
            reached = step
    recipient.status = status if RANK.get(status, -1) > RANK[reached] else reached


def shown_state(status: str, *, payment_pending: bool) -> str:
    """The state the desk is shown for a recipient (the one derivation used by
    the recipient tables, the export and the API): its funnel status, except
    ``payment_pending`` while a konbini / bank-transfer payment is under way
    (never over paid, read, cancelled or opted out)."""
    if payment_pending and status not in SETTLED:
        return PAYMENT_PENDING
    return status
