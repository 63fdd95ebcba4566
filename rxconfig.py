import reflex as rx

config = rx.Config(
    app_name="smspay_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"],
)
