"""The in-memory sliding-window limiter, on an injected clock."""

from __future__ import annotations

import pytest

from serve.errors import RateLimited
from serve.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_window_slides_and_says_when_to_retry() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for at in (100.0, 110.0, 130.0):
        clock.now = at
        limiter.hit("b", "k", limit=3, window_s=60, what="tries")
    clock.now = 158.5
    with pytest.raises(RateLimited) as refused:
        limiter.hit("b", "k", limit=3, window_s=60, what="tries")
    assert refused.value.retry_after_s == 2  # the hit at 100 leaves at 160: 1.5 s, rounded up
    assert refused.value.headers == {"Retry-After": "2"}
    assert refused.value.message == "Too many tries: at most 3 per minute"
    clock.now = 160.0
    limiter.hit("b", "k", limit=3, window_s=60, what="tries")


def test_refused_hits_are_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.hit("b", "k", limit=1, window_s=10, what="tries")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.hit("b", "k", limit=1, window_s=10, what="tries")
    clock.now += 10
    limiter.hit("b", "k", limit=1, window_s=10, what="tries")


def test_keys_and_buckets_are_separate() -> None:
    limiter = RateLimiter(Clock())
    limiter.hit("login-ip", "1.2.3.4", limit=1, window_s=900, what="logins")
    limiter.hit("login-ip", "5.6.7.8", limit=1, window_s=900, what="logins")
    limiter.hit("login-email", "1.2.3.4", limit=1, window_s=900, what="logins")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("login-ip", "1.2.3.4", limit=1, window_s=900, what="logins")
    assert refused.value.message == "Too many logins: at most 1 per 15 minutes"


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for key in range(100):
        limiter.hit("b", str(key), limit=5, window_s=60, what="tries")
    clock.now += 61
    limiter.hit("b", "new", limit=5, window_s=60, what="tries")
    assert len(limiter._hits) == 1
