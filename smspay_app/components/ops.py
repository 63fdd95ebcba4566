"""Operations components shared with other pages: the campaign page's
"search recipients / export CSV" buttons."""

from __future__ import annotations

import reflex as rx

from smspay_app.state import AppState


def campaign_ops_links() -> rx.Component:
    """Buttons for the campaign page header (route ``/campaigns/[id]``): search
    this campaign's recipients, and download them as CSV (UTF-8 with BOM or
    CP932). The export itself checks the session and role on the server."""
    path = AppState.router.url.path  # "/campaigns/12"
    export = "/admin/exports" + path + ".csv?lang=" + AppState.ui_lang + "&encoding="
    return rx.hstack(
        rx.link(
            rx.button(rx.icon("search", size=14), AppState.tr["ops.export.recipients_link"], variant="soft", size="2"),
            href="/recipients?campaign=" + path.replace("/campaigns/", ""),
            id="campaign-recipients-link",
        ),
        rx.cond(
            AppState.user_role != "support",
            rx.menu.root(
                rx.menu.trigger(
                    rx.button(
                        rx.icon("download", size=14),
                        AppState.tr["ops.export.button"],
                        variant="soft",
                        size="2",
                        id="export-button",
                    )
                ),
                rx.menu.content(
                    # A real download (the browser fetches it with the session cookie), not client-side routing.
                    rx.menu.item(
                        AppState.tr["ops.export.utf8"], on_click=rx.download(url=export + "utf-8-sig"), id="export-utf8"
                    ),
                    rx.menu.item(
                        AppState.tr["ops.export.cp932"], on_click=rx.download(url=export + "cp932"), id="export-cp932"
                    ),
                ),
            ),
        ),
        spacing="2",
    )
