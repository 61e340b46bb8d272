"""Pacing sends to the sending number's rate (TWILIO_MPS), shared by every worker thread and,
with Redis, every worker process. Uses the `limits` library's moving window, which never lets more
than MPS sends into any one-second span, so the provider has no reason to answer 429."""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond, storage, strategies

from proirp.config import Settings


class SendPacer:
    def __init__(self, settings: Settings) -> None:
        uri = settings.redis_url if settings.queue_backend == "redis" else "memory://"
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))
        mps = settings.twilio_mps
        # Whole messages per window: 0.5/s becomes 1 per 2 s, 50/s stays 50 per 1 s.
        if mps >= 1:
            self._item = RateLimitItemPerSecond(int(mps), 1)
        else:
            self._item = RateLimitItemPerSecond(1, max(1, round(1 / mps)))

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> None:
        """Block until this sender may send one more message."""
        key = f"proirp:sms-pace:{sender_key}"
        while not self._limiter.hit(self._item, key):
            reset = self._limiter.get_window_stats(self._item, key).reset_time
            time.sleep(min(1.0, max(poll, reset - time.time())))
