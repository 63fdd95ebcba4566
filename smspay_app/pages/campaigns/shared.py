"""What the campaign pages share: the status badge, the route's campaign id,
the date fields, and the debounced form controls of the editor and the
send check."""

from __future__ import annotations

import reflex as rx

from smspay_app.state import AppState

PAGE_SIZE = 50


def status_badge(status) -> rx.Component:
    """A campaign's state: its one label and colour (``CAMPAIGN_STATUS_COLORS``)."""
    from smspay_app.components.layout import CAMPAIGN_STATUS_COLORS, status_color

    return rx.badge(
        AppState.tr["status." + status],
        color_scheme=status_color(status, CAMPAIGN_STATUS_COLORS),
        variant="soft",
    )


def to_int(value: str) -> int | None:
    import unicodedata

    text = unicodedata.normalize("NFKC", str(value or "")).strip().replace(",", "")
    return int(text) if text.isdigit() else None


def route_campaign_id(state) -> int:
    try:
        # The page's dynamic route argument ("/campaigns/[campaign_id]...").
        return int(getattr(state, "campaign_id", "0") or "0")
    except (TypeError, ValueError):
        return 0


def route_param_in_browser(name: str):
    """The page's dynamic route argument ``name`` as the browser's router reads
    it from the address, at once on a client-side navigation (the state's own
    ``campaign_id`` changes only when the page's load events reach the
    server): a ``Var[str]``, "" when absent."""
    from reflex.vars.base import Var, VarData

    return Var(
        _js_expr=f'(smspay_route_params["{name}"] ?? "")',
        _var_type=str,
        _var_data=VarData(
            hooks={"const smspay_route_params = useParams();": None},
            imports={"react-router": "useParams"},
        ),
    )


def live(component: rx.Component, debounce: int) -> rx.Component:
    """A controlled input that sends its value ``debounce`` ms after typing
    stops, and at once when it loses focus (so a click on "Next" right after
    typing sees the text)."""
    from reflex.vars import Var

    if hasattr(component, "force_notify_on_blur"):
        component.debounce_timeout = Var.create(debounce)
        component.force_notify_on_blur = Var.create(True)
    return component


def text_input(debounce: int = 250, **props) -> rx.Component:
    return live(rx.input(**props), debounce)


def date_field(kind: str = "datetime", **props) -> rx.Component:
    """A date (``kind="date"``), date-and-time (``"datetime"``) or time
    (``"time"``) field: plain text in Japanese order and 24-hour, the format
    shown as its placeholder and named under it in the UI language; read
    back by ``domain.formatting.parse_input_*``. Not a native picker: those
    follow the browser's locale, not the page's language (issue 15)."""
    from smspay_app.domain.formatting import DATE_INPUT_HINT, DATETIME_INPUT_HINT, TIME_INPUT_HINT

    hint = {"date": DATE_INPUT_HINT, "datetime": DATETIME_INPUT_HINT, "time": TIME_INPUT_HINT}[kind]
    props.setdefault("width", {"date": "200px", "datetime": "220px", "time": "120px"}[kind])
    return rx.vstack(
        text_input(type="text", placeholder=hint, max_length=24, autocomplete="off", **props),
        rx.text(AppState.tr["input.format." + kind], size="1", color="gray", class_name="date-format-hint"),
        spacing="1",
    )


def text_area(debounce: int = 250, **props) -> rx.Component:
    return live(rx.text_area(**props), debounce)


def labelled(label, control: rx.Component, help_text=None, **props) -> rx.Component:
    label = AppState.tr[label] if isinstance(label, str) else label
    children = [rx.text(label, size="2", weight="medium"), control]
    if help_text is not None:
        children.append(
            rx.text(AppState.tr[help_text] if isinstance(help_text, str) else help_text, size="1", color="gray")
        )
    props.setdefault("width", "100%")
    return rx.vstack(*children, spacing="1", **props)


BRAND_COLOR = "#0f766e"
SELECT_STYLE = {
    "padding": "6px 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
    "background": "white",
    "font_size": "14px",
    "min_width": "140px",
}
