"""Issue 18, item 5 (Medium): the sign-in form never stalls the server.

argon2 (131 ms a check in the attack run) ran on the event loop, and random
addresses avoid the per-address throttle: with 8 tabs x 30 sign-ins the
recipient pages went from p95 4 ms to p95 951 ms (max 1,090 ms). The password
step now runs in ``auth.password_gate``: its own threads (bounded
concurrency) and a global budget that sheds load at once (``login.busy``).
``bench/bench_sign_in_flood.py`` prints the recipient pages' p95 during a
240-attempt flood."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from argon2 import PasswordHasher

from smspay_app.services import auth


async def test_the_gate_sheds_load_beyond_its_budget_at_once():
    """Finding 5: beyond concurrency + waiting, a sign-in is refused at once
    (``SignInBusy``), never queued without end."""
    gate = auth.PasswordGate(concurrency=1, waiting=1, per_second=100)
    release = threading.Event()
    started = threading.Event()

    def slow():
        started.set()
        release.wait()
        return "checked"

    first = asyncio.create_task(gate.run(slow))
    second = asyncio.create_task(gate.run(slow))
    while not started.is_set():
        await asyncio.sleep(0.01)
    assert gate.admitted == 2
    with pytest.raises(auth.SignInBusy) as err:
        await gate.run(slow)
    assert err.value.key == "login.busy"
    release.set()
    assert await first == "checked" and await second == "checked"
    assert gate.admitted == 0
    assert await gate.run(lambda: "again") == "again"


async def test_password_checks_in_the_gate_leave_the_event_loop_free():
    """Finding 5: eight real argon2 checks (the app's default costs) at once
    through the gate; meanwhile the event loop keeps ticking every 10 ms
    with no stall anywhere near a check's time (on the loop, each check
    stalled it for its whole duration)."""
    hasher = PasswordHasher()
    stored = hasher.hash("correct horse battery")
    t0 = time.perf_counter()
    hasher.verify(stored, "correct horse battery")
    one_check = time.perf_counter() - t0

    def check(password: str) -> bool:
        try:
            return hasher.verify(stored, password)
        except Exception:
            return False

    gate = auth.PasswordGate(concurrency=1, waiting=16, per_second=100)
    lags: list[float] = []
    done = False

    async def ticker():
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(gate.run(check, uuid.uuid4().hex) for _ in range(8)))
    done = True
    await tick
    assert results == [False] * 8
    assert len(lags) >= 8
    assert max(lags) < max(0.08, 0.8 * one_check), (max(lags), one_check)


async def test_the_gate_has_a_global_budget_per_second():
    """Finding 5 (a global budget): whatever the addresses, at most
    ``per_second`` password checks start in a second; the rest are refused
    at once (``login.busy``), so hashing cannot take the CPU other pages need."""
    gate = auth.PasswordGate(concurrency=4, waiting=100, per_second=3)
    outcomes = []
    for _ in range(5):
        try:
            outcomes.append(await gate.run(lambda: "checked"))
        except auth.SignInBusy:
            outcomes.append("busy")
    assert outcomes == ["checked"] * 3 + ["busy"] * 2
