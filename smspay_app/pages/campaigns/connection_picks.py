"""The campaign editor's connection pickers (issue 13): which SMS and payment
connection the campaign goes through (default: the organisation's). Shown to
admins only; ``services.connections.pick_errors`` checks the pick again when
the campaign is saved (only enabled connections of the organisation)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from smspay_app.pages.campaigns.editor_state import CampaignEditorState
from smspay_app.pages.campaigns.shared import labelled
from smspay_app.services import auth, connections
from smspay_app.state import AppState


def choices(session: Session, caller: auth.Caller) -> tuple[bool, list[dict[str, str]], list[dict[str, str]]]:
    """(may pick, SMS choices, payment choices): id and a label with the
    provider; nothing secret."""
    if not connections.may_pick(caller):
        return False, [], []

    def rows(kind: str) -> list[dict[str, str]]:
        return [
            {"id": str(c.id), "label": f"{c.label} · {c.provider}" + (" ★" if c.is_default else "")}
            for c in connections.pick_choices(session, caller.organisation_id, kind)
        ]

    return True, rows("sms"), rows("payment")


def _picker(kind: str, options: rx.Var, value: rx.Var) -> rx.Component:
    return labelled(
        f"connections.pick.{kind}",
        rx.select.root(
            rx.select.trigger(id=f"pick-{kind}", width="100%"),
            rx.select.content(
                rx.select.item(AppState.tr["connections.pick.default"], value="default", id=f"pick-{kind}-default"),
                rx.foreach(
                    options,
                    lambda c: rx.select.item(c["label"], value=c["id"].to(str), id=f"pick-{kind}-" + c["id"].to(str)),
                ),
            ),
            value=value,
            on_change=lambda v: CampaignEditorState.set_pick(kind, v),
        ),
    )


def connection_picks() -> rx.Component:
    s = CampaignEditorState
    return rx.cond(
        s.can_pick,
        rx.vstack(
            _picker("sms", s.sms_choices, s.sms_pick),
            _picker("payment", s.payment_choices, s.payment_pick),
            rx.text(AppState.tr["connections.pick.help"], size="1", color="gray"),
            spacing="2",
            width="100%",
            id="connection-picks",
        ),
    )
