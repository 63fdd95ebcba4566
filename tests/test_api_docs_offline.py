"""The API reference at /api/v1/docs uses only the app's own files (issue 15
item 6): every script, stylesheet and icon it names is served by the app."""

from __future__ import annotations

import re


def test_docs_page_names_only_own_assets_and_they_are_served(live_server):
    with live_server.client() as client:
        page = client.get("/api/v1/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
            r"""url: ?["']([^"']+)["']""", page.text
        )
        assert urls and all(u.startswith("/api/") for u in urls), urls
        assert "cdn" not in page.text.lower()
        for url in urls:
            assert client.get(url).status_code == 200, url
        js = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in js.text
