"""The sliding-window limiter behind the recipient POST limit, the API rate
limit and the sign-in throttle, driven by a clock moved by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.services import auth
from smspay_app.web import api as api_web
from smspay_app.web import recipient as recipient_web


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_at_most_limit_events_per_key_in_the_window():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # keys are independent
    clock.now += 59.9
    assert not limiter.allow("a")
    clock.now += 0.1  # the first three events are now exactly 60 s old: out of the window
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_a_refused_hit_is_not_counted_and_says_how_long_to_wait():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock)
    assert limiter.hit("k") is None
    clock.now += 10
    assert limiter.hit("k") is None
    clock.now += 5
    assert limiter.hit("k") == 45.0  # the oldest leaves the window 60 s after it came
    assert limiter.count("k") == 2
    clock.now += 45
    assert limiter.hit("k") is None  # refused knocks did not push the window on


def test_a_limit_per_call_overrides_the_default_and_is_at_least_one():
    clock = FakeClock()
    limiter: SlidingWindowLimiter[int] = SlidingWindowLimiter(1, 60.0, clock=clock)
    assert [limiter.allow(7, limit=5) for _ in range(6)] == [True] * 5 + [False]
    assert [limiter.allow(8, limit=0) for _ in range(2)] == [True, False]


def test_record_counts_failures_and_blocked_counts_nothing():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 900.0, clock=clock)
    assert not limiter.blocked("x")
    limiter.record("x")
    assert not limiter.blocked("x") and not limiter.blocked("x")
    limiter.record("x")
    assert limiter.blocked("x")
    clock.now += 900
    assert not limiter.blocked("x") and limiter.count("x") == 0


def test_memory_stays_bounded_forgetting_idle_keys_first():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 60.0, clock=clock, max_keys=10)
    for i in range(10):
        limiter.allow(f"old{i}")
    clock.now += 61
    for i in range(3):
        limiter.allow(f"new{i}")
    assert len(limiter._own._hits) == 3  # the idle keys went, the live ones stayed
    for i in range(20):
        limiter.allow(f"spray{i}")
    assert len(limiter._own._hits) <= 10


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 30)), max_size=60))
def test_never_more_than_limit_allowed_in_any_window(events):
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock)
    allowed: dict[str, list[float]] = {}
    for key, step in events:
        clock.now += step
        if limiter.allow(key):
            allowed.setdefault(key, []).append(clock.now)
    for times in allowed.values():
        for t in times:
            assert sum(1 for u in times if t - 60 < u <= t) <= 3


def test_the_three_limits_use_it():
    assert isinstance(recipient_web.post_limiter, SlidingWindowLimiter)
    assert (recipient_web.post_limiter.limit, recipient_web.post_limiter.window) == (30, 60.0)
    assert isinstance(api_web.rate_limiter, SlidingWindowLimiter) and api_web.rate_limiter.window == 60.0
    # Wrong passwords are no longer an in-memory limiter per process (issue 18,
    # item 11: a restart reset it): they are counted in the database
    # (tests/test_low_findings.py). The sign-in gate's budget per second uses it.
    assert not hasattr(auth, "password_failures")
    gate = auth.PasswordGate(concurrency=1, waiting=0, per_second=3)
    gate._pool()
    assert isinstance(gate._rate, SlidingWindowLimiter) and gate._rate.window == 1.0
