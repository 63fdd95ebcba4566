"""The amount shown to recipients has one owner, ``domain.formatting.yen``:
the recipient page (invoice lines and total), the payment sandbox's checkout
page and the receipt all show exactly its text, for small and large amounts,
and no module formats yen by hand."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest

from smspay_app.domain.formatting import YEN_SIGN, yen
from smspay_app.i18n import CATALOG, LANGUAGES, t
from smspay_app.models import Recipient
from smspay_app.services import journey
from smspay_app.web import recipient as recipient_web
from tests.factories import make_journey
from tests.helpers import BROWSER_UA, reload

ROOT = Path(__file__).resolve().parents[1] / "smspay_app"
FORM_ACTION_RE = re.compile(r'<form method="?post"? action="([^"]+)"')


@pytest.fixture(autouse=True)
def _fresh_limits():
    recipient_web.post_limiter.reset()
    journey.reset_visit_dedup()


def _only_formatted_by_yen(text: str, amount: int) -> None:
    """``text`` shows ``amount`` and every time as ``yen(amount)``."""
    digits = f"{amount:,}"
    assert yen(amount) in text
    assert text.count(digits) == text.count(yen(amount)), f"{digits} shown without {yen(amount)}"
    assert not re.search(rf"(?<!\d){amount}(?!\d)", text)  # nor as bare digits


def _action(html: str, suffix: str) -> str:
    return next(a for a in FORM_ACTION_RE.findall(html) if a.endswith(suffix))


@pytest.mark.parametrize("amount", [4_980, 1_234_567])
def test_every_recipient_surface_shows_the_amount_as_formatting_yen(live_server, session, amount):
    j = make_journey(session, amount_yen=amount)
    with live_server.client(headers={"User-Agent": BROWSER_UA}) as client:
        landing = client.get(f"/l/{j.token}")
        q_birth, q_number = j.question_ids
        verified = client.post(
            f"/l/{j.token}/verify", data={"lang": "ja", f"q_{q_birth}": "1980-01-02", f"q_{q_number}": "123456"}
        )
        assert landing.status_code == 200 and verified.status_code == 303

        message = client.get(f"/l/{j.token}")  # the invoice: lines and total
        _only_formatted_by_yen(message.text, amount)
        # the campaign's lines total ¥12,340, not this amount: one amount everywhere
        # (issue 12) shows none of them (this assertion used to expect them)
        assert yen(10_000) not in message.text and yen(2 * 1_170) not in message.text

        to_gateway = client.post(_action(message.text, "/pay"), data={"lang": "ja"})
        checkout_url = to_gateway.headers["location"]
        hosted = client.get(checkout_url)  # the payment sandbox's hosted page
        assert hosted.status_code == 200
        _only_formatted_by_yen(hosted.text, amount)

        back = client.post(checkout_url, data={"method": "card", "outcome": "success"})
        assert back.status_code == 303
        deadline = time.monotonic() + 10
        while reload(session, Recipient, j.recipient_id).status != "paid" and time.monotonic() < deadline:
            time.sleep(0.05)
        receipt = client.get(f"/l/{j.token}")  # the message page with the receipt
        assert f"お支払い完了: {yen(amount)}" in receipt.text
        _only_formatted_by_yen(receipt.text, amount)

    for lang in LANGUAGES:
        assert yen(amount) in t("recipient.receipt", lang, amount=yen(amount), date="2030/01/01")


def _hand_made_yen(path: Path) -> list[int]:
    """Lines of f-strings that put the yen sign before a formatted value."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, after in zip(parts, parts[1:]):
                if (
                    isinstance(before, ast.Constant)
                    and str(before.value).endswith(("¥", "￥"))
                    and isinstance(after, ast.FormattedValue)
                ):
                    lines.append(node.lineno)
    return lines


def test_no_module_but_domain_formatting_puts_the_yen_sign_before_a_value():
    found = {
        p.relative_to(ROOT).as_posix(): lines
        for p in sorted(ROOT.rglob("*.py"))
        if p.relative_to(ROOT).as_posix() != "domain/formatting.py" and (lines := _hand_made_yen(p))
    }
    assert found == {}, found
    # Recipient texts take the amount already formatted.
    recipient_texts = {k: v for k, v in CATALOG.items() if k.startswith("recipient.")}
    assert [k for k, texts in recipient_texts.items() if any(YEN_SIGN in s for s in texts.values())] == []
