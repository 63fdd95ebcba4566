"""docs/api.md runs as written (issue 20, item 5): every ``sh`` block is run
by bash, step by step (a step starts at a comment line), against a live
server, substituting only what the docs name to be set (``BASE`` and
``KEY``); the dispatcher runs between steps as the worker would. Every curl
uses ``--fail-with-body``, so any error status fails the test. Was: the
examples needed ``uuidgen``, which a Debian machine lacks, and the last one
(cancel a campaign) got 409 once the first send finished."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from smspay_app.worker import run_dispatcher_once
from tests.factories import make_admin, make_key

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"
MARK = "__docs_step_done__"


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def steps_of(block: str) -> list[str]:
    """The block cut before each comment line (the docs' own paragraphs)."""
    steps: list[list[str]] = [[]]
    for line in block.splitlines():
        if line.startswith("# ") and steps[-1]:
            steps.append([])
        steps[-1].append(line)
    return ["\n".join(s) for s in steps if s]


def test_the_docs_name_no_tool_a_fresh_debian_lacks():
    text = DOCS.read_text()
    assert "uuidgen" not in text and " jq " not in text
    assert sh_blocks(text)


async def test_every_curl_block_of_the_api_docs_runs_against_a_live_server(live_server, session):
    assert shutil.which("curl"), "curl is missing (scripts/test.sh installs it): the docs' examples cannot run"
    admin = make_admin(session)
    key = make_key(session, admin)
    blocks = sh_blocks(DOCS.read_text())
    assert any("curl" in b for b in blocks)
    for block in blocks:
        script = re.sub(r"^BASE=.*$", f"BASE={live_server.base_url}/api/v1", block, flags=re.M)
        script = re.sub(r"^KEY=.*$", f"KEY={key}", script, flags=re.M)
        assert script.count(key) == 1 and f"BASE={live_server.base_url}" in script
        bash = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            "-euo",
            "pipefail",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        transcript: list[str] = []
        for step in steps_of(script):
            bash.stdin.write(f"{step}\necho; echo {MARK}\n".encode())
            await bash.stdin.drain()
            while True:
                line = (await bash.stdout.readline()).decode()  # EOF when a step fails (bash -e)
                if not line:
                    raise AssertionError(f"step failed:\n{step}\n--- output:\n{''.join(transcript)}")
                if line.strip() == MARK:
                    break
                transcript.append(line)
            assert '"error"' not in "".join(transcript[-3:]), "".join(transcript)
            await run_dispatcher_once()  # the worker between the steps
        bash.stdin.close()
        assert await bash.wait() == 0
        out = "".join(transcript)
        assert '"status":"cancelled"' in out.replace(" ", "")  # the campaign's cancel: 200
        assert '"queued":1' in out.replace(" ", "")  # the "send": false recipient was sent
