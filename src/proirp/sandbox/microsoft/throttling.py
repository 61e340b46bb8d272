"""Outlook's per-mailbox throttling: requests in flight at once, and requests per second.

Graph lets an app have at most 4 requests in flight per mailbox and about 10,000 per 10 minutes;
over either it answers 429 with Retry-After. The rate is a GCRA (a token bucket as arrival
times): `rps` requests a second on average, bursts of up to `rps` at once. Not thread-safe on its
own: the sandbox calls it under its state lock.
"""

from __future__ import annotations

import math


class MailboxThrottle:
    """In-flight counts, the highest seen, and the rate state, per mailbox."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._due: dict[str, float] = {}  # the theoretical arrival time of the next request

    def admit_rate(self, account: str, rps: float | None, now: float) -> int | None:
        """Count one request against the rate; the Retry-After seconds if it is over."""
        if rps is None:
            return None
        interval = 1.0 / rps
        tolerance = (max(1, math.floor(rps)) - 1) * interval
        due = self._due.get(account, now)
        if now < due - tolerance:
            return max(1, math.ceil(due - tolerance - now))
        self._due[account] = max(due, now) + interval
        return None

    def reset_rate(self) -> None:
        """Start the rate afresh (the rate knob changed)."""
        self._due.clear()

    def enter(self, account: str, limit: int) -> bool:
        """Count a request in flight; False (not counted) when the mailbox already has `limit`."""
        current = self.in_flight.get(account, 0)
        if current >= limit:
            return False
        self.in_flight[account] = current + 1
        self.max_in_flight[account] = max(self.max_in_flight.get(account, 0), current + 1)
        return True

    def leave(self, account: str) -> None:
        """A request in flight has been answered."""
        left = self.in_flight.get(account, 0) - 1
        if left > 0:
            self.in_flight[account] = left
        else:
            self.in_flight.pop(account, None)
