"""Pacing provider calls to their allowed rate (TWILIO_MPS per sending number, and
SENDGRID_REQUESTS_PER_SECOND), shared by every worker thread and, with Redis, every worker process.
Uses the `limits` library's moving window, which never lets more than the rate into any one-second
span, so the provider has no reason to answer 429."""

from __future__ import annotations

import threading
import time

from limits import RateLimitItemPerSecond, storage, strategies

from proirp.config import Settings


class SendPacer:
    """Paces one kind of call to `rate` per second per sender key (None: no pacing)."""

    def __init__(self, settings: Settings, *, rate: float | None, name: str) -> None:
        uri = settings.redis_url if settings.queue_backend == "redis" else "memory://"
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))
        self._name = name
        per_second = rate
        self._item: RateLimitItemPerSecond | None = None
        if per_second is None:
            return  # no limit to keep
        # Whole calls per window: 0.5/s becomes 1 per 2 s, 50/s stays 50 per 1 s.
        if per_second >= 1:
            self._item = RateLimitItemPerSecond(int(per_second), 1)
        else:
            self._item = RateLimitItemPerSecond(1, max(1, round(1 / per_second)))

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> None:
        """Block until this sender may make one more call."""
        if self._item is None:
            return
        key = f"proirp:{self._name}:{sender_key}"
        while not self._limiter.hit(self._item, key):
            reset = self._limiter.get_window_stats(self._item, key).reset_time
            time.sleep(min(1.0, max(poll, reset - time.time())))


def sms_pacer(settings: Settings) -> SendPacer:
    return SendPacer(settings, rate=settings.twilio_mps, name="sms-pace")


def email_pacer(settings: Settings) -> SendPacer:
    return SendPacer(settings, rate=settings.sendgrid_requests_per_second, name="email-pace")


_shared: dict[str, SendPacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(settings: Settings, channel: str) -> SendPacer:
    """One pacer per channel for this process, shared by the worker's threads."""
    with _shared_lock:
        if channel not in _shared:
            _shared[channel] = sms_pacer(settings) if channel == "sms" else email_pacer(settings)
        return _shared[channel]
