import os

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="smspay_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[SitemapPlugin],
    # The sign-in's client address (router.session.client_ip: the back-off per
    # address) follows the same trusted proxies as the API and the recipient
    # pages (services.api_keys.client_address_of, issue 17).
    trusted_proxy_hops=int(os.environ.get("SMSPAY_API_TRUSTED_PROXIES", "0") or 0),
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="teal", gray_color="slate", radius="large", appearance="light")
        )
    ],
)
