"""Google's per-user quota: at most `rpm` Calendar API requests in any 60 seconds per account.

A sliding window of request times per account, exact at the scale a sandbox sees (the product's
own limiter can pace itself at exactly rpm and never be refused). Not thread-safe on its own: the
sandbox calls it under its state lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class AccountRateLimiter:
    """Admits at most `rpm` requests per account in any WINDOW_SECONDS."""

    def __init__(self, rpm: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm = rpm
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def try_acquire(self, account: str) -> bool:
        """Count one request for `account`; False when it is over its quota."""
        if self.rpm is None:
            return True
        now = self._clock()
        seen = self._seen.setdefault(account, deque())
        while seen and seen[0] <= now - WINDOW_SECONDS:
            seen.popleft()
        if len(seen) >= self.rpm:
            return False
        seen.append(now)
        return True
