"""The admin shell: top bar with organisation, user, language and sign-out."""

from __future__ import annotations

import reflex as rx

from smspay_app.state import AppState

BRAND = "#0f766e"


def language_switch() -> rx.Component:
    # Each language named in itself, so it can be found whatever is shown now.
    return rx.select.root(
        rx.select.trigger(id="lang-select", aria_label="language / 言語"),
        rx.select.content(
            rx.select.item("日本語", value="ja"),
            rx.select.item("English", value="en"),
        ),
        value=AppState.ui_lang,
        on_change=AppState.set_lang,
        size="1",
    )


class _PrefetchPageLinks(rx.Component):
    """React Router's ``<PrefetchPageLinks page=...>``: ``<link
    rel="modulepreload">`` tags for the code of the page at ``page``."""

    library = "react-router"
    tag = "PrefetchPageLinks"
    page: rx.Var[str]


def prefetch_page(path) -> rx.Component:
    """Fetch the code of the page at ``path`` (a route of this app, e.g. one
    campaign of a list) while the current page shows, so the click that opens
    it waits only for its data (issue 16 item 5: the first campaign opened
    from the list also loaded and compiled its page's modules, ~300-400 ms
    here). Once per list, not per row: every row's page has the same code."""
    return _PrefetchPageLinks.create(page=path)


# (label key, route, shown to these roles). Pages check roles on the server too.
NAV_ITEMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("admin.nav.dashboard", "/dashboard", ("admin", "operator", "support")),
    ("admin.nav.campaigns", "/campaigns", ("admin", "operator", "support")),
    ("admin.nav.recipients", "/recipients", ("admin", "operator", "support")),
    ("admin.nav.replies", "/replies", ("admin", "operator", "support")),
    ("admin.nav.opt_outs", "/opt-outs", ("admin", "operator", "support")),
    ("admin.nav.settings", "/settings", ("admin",)),
    ("admin.nav.developers", "/developers", ("admin",)),
    ("admin.nav.usage", "/usage", ("admin",)),
    ("admin.nav.installation", "/installation", ("owner",)),
)


def nav_links() -> rx.Component:
    links = []
    for key, href, roles in NAV_ITEMS:
        link = rx.link(
            AppState.tr[key], href=href, size="2", color="var(--gray-12)", weight="medium", white_space="nowrap"
        )
        if roles == ("admin", "operator", "support"):
            link = rx.cond(AppState.user_role != "owner", link)  # the installation owner has no org pages
        else:
            allowed = AppState.user_role == roles[0]
            for role in roles[1:]:
                allowed = allowed | (AppState.user_role == role)
            link = rx.cond(allowed, link)
        links.append(link)
    return rx.hstack(*links, spacing="3", align="center")


def simulator_link() -> list[rx.Component]:
    """The built-in SMS simulator's inbox, only when it is the provider."""
    from smspay_app.settings import get_settings

    if get_settings().sms_provider != "simulator":
        return []
    return [
        rx.link(
            AppState.tr["admin.nav.simulator"],
            href="/sim/twilio/inbox",
            is_external=True,
            size="2",
            white_space="nowrap",
        )
    ]


def top_bar() -> rx.Component:
    return rx.hstack(
        rx.link(
            rx.hstack(
                rx.box(
                    rx.icon("message-square-text", size=18, color="white"),
                    background=BRAND,
                    padding="6px",
                    border_radius="8px",
                ),
                rx.text("smspay", weight="bold", size="4"),
                align="center",
                spacing="2",
            ),
            href="/campaigns",
            underline="none",
            color="inherit",
        ),
        rx.text(
            AppState.org_name,
            color="gray",
            size="2",
            white_space="nowrap",
            overflow="hidden",
            text_overflow="ellipsis",
            max_width="180px",
        ),
        rx.cond(
            AppState.org_suspended,
            rx.badge(AppState.tr["owner.suspended_banner"], color_scheme="red", id="org-suspended"),
        ),
        nav_links(),
        rx.spacer(),
        *simulator_link(),
        language_switch(),
        rx.link(
            rx.badge(rx.icon("user", size=12), AppState.user_name, variant="soft", color_scheme="teal", size="2"),
            href="/account",
            id="account-link",
            title=AppState.tr["account.nav"],
        ),
        rx.button(
            AppState.tr["admin.nav.sign_out"], on_click=AppState.sign_out, variant="ghost", size="2", id="sign-out"
        ),
        align="center",
        spacing="3",
        padding_x="24px",
        padding_y="12px",
        border_bottom="1px solid var(--gray-a5)",
        background="white",
        width="100%",
    )


def admin_page(*children: rx.Component) -> rx.Component:
    return rx.box(
        top_bar(),
        rx.box(*children, max_width="1120px", margin_x="auto", padding="24px", width="100%"),
        background="var(--gray-2)",
        min_height="100vh",
    )


def card(*children: rx.Component, **props) -> rx.Component:
    return rx.card(*children, size="3", width="100%", **props)


# One status vocabulary (issue 15 item 9): every state a recipient is shown in
# (``domain.funnel.SHOWN_STATES``, label ``rstatus.<state>``) has ONE colour,
# used by every badge, table and the funnel chart. Failures are red, a lock
# orange, withdrawn / ended states grey, money green.
RECIPIENT_STATUS_COLORS: dict[str, str] = {
    "created": "gray",
    "queued": "sky",
    "sent": "blue",
    "delivered": "cyan",
    "clicked": "violet",
    "verified": "amber",
    "read": "teal",
    "paid": "green",
    "payment_pending": "yellow",
    "failed": "red",
    "expired": "brown",
    "locked": "orange",
    "opted_out": "crimson",
    "cancelled": "gray",
}
# A campaign's states (label ``status.<state>``), same meanings and colours:
# cancelled is grey here too (withdrawn), never red (a failure).
CAMPAIGN_STATUS_COLORS: dict[str, str] = {
    "draft": "gray",
    "scheduled": "amber",
    "sending": "blue",
    "paused": "orange",
    "active": "green",
    "closed": "gray",
    "cancelled": "gray",
}
# Radix step-9 hex of the colours the chart draws with (recharts needs hex).
CHART_HEX: dict[str, str] = {
    "blue": "#0090ff",
    "cyan": "#00a2c7",
    "violet": "#6e56cf",
    "amber": "#ffc53d",
    "green": "#30a46c",
}

# The dashboard funnel's steps and their colours, from the one vocabulary.
FUNNEL_ACCENTS: tuple[tuple[str, str], ...] = tuple(
    (step, RECIPIENT_STATUS_COLORS[step]) for step in ("sent", "delivered", "clicked", "verified", "paid")
)


def status_color(status, colors: dict[str, str]):
    """A state var's colour from one of the maps above."""
    return rx.match(status, *[(k, v) for k, v in colors.items()], "gray")


def funnel_stats(counts, id_prefix: str) -> list[rx.Component]:
    """One stat card per funnel step from a ``{step: count}`` var; element
    ids are ``<id_prefix>-<step>``."""
    return [
        stat(AppState.tr[f"funnel.{step}"], counts[step], accent, f"{id_prefix}-{step}")
        for step, accent in FUNNEL_ACCENTS
    ]


def stat(label, value, accent: str = "gray", test_id: str = "") -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color="gray"),
            rx.text(value, size="7", weight="bold", color=f"var(--{accent}-11)", id=test_id),
            spacing="1",
        ),
        size="2",
        # At least as wide as its figure (a seven-digit yen amount was cut
        # off at 1280 px): a row that cannot hold every card wraps.
        flex="1 0 auto",
        min_width="120px",
    )


def recipient_status(status, deadline, **props) -> rx.Component:
    """A recipient's shown state (``services.recipients.shown_states``) and, for
    a pending payment, its deadline ('' when none or unknown)."""
    return rx.hstack(
        rx.badge(
            AppState.tr["rstatus." + status],
            color_scheme=status_color(status, RECIPIENT_STATUS_COLORS),
            variant="soft",
            **props,
        ),
        rx.cond(
            deadline != "",
            rx.text(AppState.tr["rstatus.deadline"] + " " + deadline, size="1", color="gray"),
        ),
        spacing="2",
        align="center",
    )
