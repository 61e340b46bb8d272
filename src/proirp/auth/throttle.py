"""Failed-login throttling with the `limits` library, on Redis when the queue uses it.

Two windows: one per account (slows guessing one password) and one per address (slows spraying).
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItemPerSecond, storage, strategies

from proirp.config import Settings

PER_ADDRESS_FACTOR = 4


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        uri = settings.redis_url if settings.queue_backend == "redis" else "memory://"
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))
        window = settings.login_failure_window_seconds
        self._per_account = RateLimitItemPerSecond(settings.login_max_failures, window)
        self._per_address = RateLimitItemPerSecond(
            settings.login_max_failures * PER_ADDRESS_FACTOR, window
        )

    @staticmethod
    def _keys(email: str, ip: str | None) -> tuple[str, str]:
        account = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
        return f"proirp:login:account:{account}", f"proirp:login:ip:{ip or 'unknown'}"

    def retry_after(self, email: str, ip: str | None) -> int | None:
        """Seconds until another attempt is allowed, or None if one is allowed now."""
        waits = []
        for item, key in zip(
            (self._per_account, self._per_address), self._keys(email, ip), strict=True
        ):
            if not self._limiter.test(item, key):
                reset = self._limiter.get_window_stats(item, key).reset_time
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits) if waits else None

    def record_failure(self, email: str, ip: str | None) -> None:
        for item, key in zip(
            (self._per_account, self._per_address), self._keys(email, ip), strict=True
        ):
            self._limiter.hit(item, key)

    def record_success(self, email: str, ip: str | None) -> None:
        account_key, _ = self._keys(email, ip)
        self._limiter.clear(self._per_account, account_key)
