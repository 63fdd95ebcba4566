"""What the README says about the JavaScript tooling matches what the
installed Reflex asks for (issue 15 item 12): bun builds the frontend, Node is
only npm's carrier, and the versions named are Reflex's own minimums."""

from __future__ import annotations

from pathlib import Path

from reflex import constants

ROOT = Path(__file__).resolve().parents[1]


def test_readme_names_the_bun_and_node_versions_reflex_asks_for():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert f"bun ({constants.Bun.MIN_VERSION} or newer" in setup
    node_min = ".".join(constants.Node.MIN_VERSION.split(".")[:2])
    assert f"Node {node_min} or" in setup
    assert "Node 20" in setup and "npm" in setup
    assert "Node.js 20+" in (ROOT / "scripts" / "_env.sh").read_text(encoding="utf-8")
