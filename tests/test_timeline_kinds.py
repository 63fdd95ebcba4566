"""Every timeline kind the code can write is registered in
``timeline.TIMELINE_KINDS`` and has a label in Japanese and English, so the
recipient timeline never shows a raw kind."""

from __future__ import annotations

import ast
import pathlib

import pytest

from smspay_app.i18n import CATALOG
from smspay_app.services import sending, support, timeline

ROOT = pathlib.Path(__file__).resolve().parent.parent / "smspay_app"


def _written_kinds() -> set[str]:
    """Kinds passed to ``timeline.record(session, recipient, kind, ...)``
    anywhere in smspay_app/: literals as they are, the two f-strings expanded
    over what they range over, a variable by the literals it is given."""
    kinds: set[str] = set()
    unresolved: list[str] = []
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr != "record" or not isinstance(node.func.value, ast.Name):
                continue
            if node.func.value.id != "timeline" or len(node.args) < 3:
                continue
            kind = node.args[2]
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                kinds.add(kind.value)
            elif isinstance(kind, ast.JoinedStr) and ast.unparse(kind) == "f'sms_{new}'":
                kinds |= {f"sms_{status}" for status in sending.FUNNEL_STEPS}
            elif isinstance(kind, ast.JoinedStr) and ast.unparse(kind) == "f'staff_{action}'":
                kinds |= {f"staff_{action}" for action in support.ACTIONS}
            elif isinstance(kind, ast.Name) and kind.id == "kind":
                continue  # a parameter: its literal callers are checked below
            else:
                unresolved.append(f"{path.name}:{node.lineno}: {ast.unparse(kind)}")
    assert not unresolved, unresolved
    # The callers passing the kind through: journey.record_visit and payments._touch.
    kinds |= {"preview", "visit", "payment_processing", "payment_failed", "payment_expired"}
    return kinds


def test_every_kind_written_is_registered():
    missing = _written_kinds() - set(timeline.TIMELINE_KINDS)
    assert not missing, missing


@pytest.mark.parametrize("kind", timeline.TIMELINE_KINDS + timeline.LEGACY_KINDS)
def test_every_registered_kind_has_a_label_in_both_languages(kind):
    label = CATALOG.get(f"ops.event.{kind}")
    assert label is not None, kind
    assert label.get("ja") and label.get("en"), kind


def test_the_five_kinds_that_showed_raw_have_labels():
    for kind in ("cancelled_by_api", "link_reissued", "otp_failed", "reminder_queued", "reminder_sent"):
        assert f"ops.event.{kind}" in CATALOG


def test_record_refuses_an_unregistered_kind():
    with pytest.raises(AssertionError):
        timeline.record(None, None, "no_such_kind")  # type: ignore[arg-type]
