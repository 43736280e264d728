"""The gateway's token bucket (file names: tests/unit/test_filenames.py)."""

from __future__ import annotations

from services.gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate():
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.take(("customer", "c-1")) for _ in range(4)] == [0, 0, 0, 1]
    clock.now = 0.5  # one token back
    assert limiter.take(("customer", "c-1")) == 0
    assert limiter.take(("customer", "c-1")) == 1
    clock.now = 100  # never more than the burst
    assert [limiter.take(("customer", "c-1")) for _ in range(4)] == [0, 0, 0, 1]


def test_retry_after_is_the_whole_seconds_until_a_token():
    clock = Clock()
    limiter = RateLimiter(per_second=0.25, burst=1, clock=clock)
    assert limiter.take(("isv", "i")) == 0
    assert limiter.take(("isv", "i")) == 4
    clock.now = 3.5
    assert limiter.take(("isv", "i")) == 1


def test_callers_have_their_own_buckets_and_idle_ones_are_forgotten(monkeypatch):
    monkeypatch.setattr(RateLimiter, "PRUNE_ABOVE", 3)
    clock = Clock()
    limiter = RateLimiter(per_second=1, burst=1, clock=clock)
    for sub in "abc":
        assert limiter.take(("customer", sub)) == 0
    assert limiter.take(("isv", "a")) == 0  # same sub, other role
    clock.now = 10
    assert limiter.take(("customer", "d")) == 0
    assert len(limiter._buckets) <= 2
