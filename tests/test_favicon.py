"""The admin console's favicon (issue 15 item 12): Reflex serves the
top-level ``assets/`` folder at the site root, so ``assets/favicon.ico`` is
what browsers ask for at ``/favicon.ico`` (it was a 404)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_the_favicon_is_a_real_icon_in_the_folder_reflex_serves():
    icon = ROOT / "assets" / "favicon.ico"
    assert icon.read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    with Image.open(icon) as im:
        assert {(16, 16), (32, 32)} <= set(im.info["sizes"])
    assert icon.stat().st_size < 4096
