"""An in-memory sliding-window rate limiter.

Each (bucket, key) pair, e.g. ("login-ip", "203.0.113.7"), keeps the times of its recent hits;
a hit is refused when `limit` hits already lie within the last `window_s` seconds, and the
refusal says when the oldest of them leaves the window (the `Retry-After`).

The counts live in this process: with N Serve replicas a client may get up to N times the limit.
That is acceptable for what it guards (login guessing, presigned-URL bursts); limits that must
hold exactly, such as the per-user job limits, are counted in the database instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from serve.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """Thread-safe sliding-window counts keyed by (bucket, key).

    Args:
        clock: seconds from any fixed origin; `time.monotonic` unless a test injects its own.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._windows: dict[str, float] = {}  # bucket -> its window, for sweeping
        self._next_sweep = 0.0

    def hit(self, bucket: str, key: str, *, limit: int, window_s: float, what: str) -> None:
        """Count one hit, or raise `RateLimited` (nothing counted) when the window is full.

        `what` names the limited action in the error message ("login attempts").
        """
        with self._lock:
            now = self._clock()
            self._windows[bucket] = window_s
            self._sweep(now)
            hits = self._hits.setdefault((bucket, key), deque())
            _drop_older_than(hits, now - window_s)
            if len(hits) >= limit:
                retry_after = hits[0] + window_s - now
                raise RateLimited(
                    f"Too many {what}: at most {limit} per {_duration(window_s)}",
                    retry_after_s=retry_after,
                )
            hits.append(now)

    def _sweep(self, now: float) -> None:
        """Forget keys with no hit inside their window, at most once per longest window, so
        the table does not grow with every address ever seen."""
        if now < self._next_sweep:
            return
        for bucket_key, hits in list(self._hits.items()):
            _drop_older_than(hits, now - self._windows[bucket_key[0]])
            if not hits:
                del self._hits[bucket_key]
        self._next_sweep = now + max(self._windows.values())


def _drop_older_than(hits: deque[float], cutoff: float) -> None:
    while hits and hits[0] <= cutoff:
        hits.popleft()


def _duration(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} seconds"
