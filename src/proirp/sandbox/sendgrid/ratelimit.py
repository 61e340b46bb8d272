"""The account's mail/send rate, with the X-RateLimit-* headers SendGrid answers a 429 with.

A token bucket like the Twilio imitation's, kept per account (SendGrid limits the account, not a
sender) and able to say how much is left and when the bucket is full again, which the headers need.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# How early a request may arrive relative to a perfect schedule (network and scheduler jitter).
JITTER_SECONDS = 0.05


@dataclass(frozen=True)
class RateDecision:
    """Whether one request was admitted, and the account's allowance afterwards."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int

    def headers(self) -> dict[str, str]:
        """SendGrid's rate-limit headers (Reset is the Unix time the allowance is whole again)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


class AccountRateLimiter:
    """Admits at most `rate` requests per second, with a burst of max(1, rate).

    Not thread-safe on its own: the sandbox calls it under its state lock.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._wall_clock = wall_clock
        self._capacity = max(1.0, rate or 1.0)
        self._tokens = self._capacity
        self._updated = clock()

    def try_acquire(self) -> RateDecision:
        """Take one request's worth of allowance, or say when there is some again."""
        if self.rate is None:
            return RateDecision(True, limit=0, remaining=0, reset_epoch=0)
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        # A request up to JITTER_SECONDS early may borrow that much refill; the debt is repaid
        # before the next one, so the long-run rate stays exact.
        allowance = min(0.5, self.rate * JITTER_SECONDS)
        allowed = self._tokens + allowance >= 1.0
        if allowed:
            self._tokens -= 1.0
        full_in = max(0.0, self._capacity - self._tokens) / self.rate
        return RateDecision(
            allowed,
            limit=int(self._capacity),
            remaining=max(0, math.floor(self._tokens)),
            reset_epoch=math.ceil(self._wall_clock() + full_in),
        )
