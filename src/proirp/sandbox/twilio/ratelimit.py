"""Per-sender message rate: a token bucket that a client pacing itself at the rate never trips.

`limits` offers fixed and moving windows only; both reject a client sending at exactly N/s whenever
one request lands a millisecond early, and neither takes fractional rates such as 0.5/s. A token
bucket with a small timing allowance does both, in a few lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# How early a request may arrive relative to a perfect schedule (network and scheduler jitter).
JITTER_SECONDS = 0.05


@dataclass
class _Bucket:
    tokens: float
    updated: float


class SenderRateLimiter:
    """Admits at most `rate` messages per second per key, with a burst of max(1, rate).

    Not thread-safe on its own: the sandbox calls it under its state lock.
    """

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, key: str) -> bool:
        """Take one token for `key`; False when the sender is over its rate."""
        if self.rate is None:
            return True
        capacity = max(1.0, self.rate)
        # A request up to JITTER_SECONDS early may borrow that much refill; the debt is repaid
        # before the next one, so the long-run rate stays exact.
        allowance = min(0.5, self.rate * JITTER_SECONDS)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens + allowance < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
