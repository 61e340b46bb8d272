"""Pacing provider calls to their allowed rate (TWILIO_MPS per sending number, and
SENDGRID_REQUESTS_PER_SECOND), shared by every worker thread and every worker process: in Redis
with QUEUE_BACKEND=redis (the `limits` library's moving window), in the database with
QUEUE_BACKEND=postgres (the same window: the calls of the last window counted under an advisory
lock), in the process with the embedded SQLite queue (one process). Never more than the rate in
any window, so the provider has no reason to answer 429.

When the provider answers with a Retry-After all the same (an outage, a limit of its own), the
pacer holds that sender until it allows, shared the same way: a Redis key that expires then, a
row in `pace_slots` dated then, or a moment kept in the process. Every call waits out the hold,
from whichever thread or process."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Protocol

import redis
from limits import RateLimitItemPerSecond, storage, strategies
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Engine

from proirp.comms.models import PaceSlot
from proirp.config import Settings
from proirp.kit.db import create_db_engine


class DatabaseWindow:
    """The moving window kept in `pace_slots`, for processes that share a PostgreSQL database
    and no Redis. One transaction per try: the key's advisory lock, the database's clock, the
    calls of the last window counted (older ones deleted), and a slot taken if there is room."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self, key: str, *, calls: int, window: float) -> float:
        """0 if a slot was taken now, else the seconds until the oldest call leaves the window."""
        span = timedelta(seconds=window)
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            conn.execute(
                delete(PaceSlot).where(PaceSlot.key == key, PaceSlot.taken_at <= now - span)
            )
            count, oldest = conn.execute(
                select(func.count(), func.min(PaceSlot.taken_at)).where(PaceSlot.key == key)
            ).one()
            if count < calls:
                conn.execute(insert(PaceSlot).values(key=key, taken_at=now))
                return 0.0
            return max(0.0, float((oldest + span - now).total_seconds()))

    def hold(self, key: str, *, seconds: float) -> None:
        """Hold `key` until `seconds` from now by the database's clock (a longer hold stays)."""
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            conn.execute(delete(PaceSlot).where(PaceSlot.key == key, PaceSlot.taken_at <= now))
            until = now + timedelta(seconds=seconds)
            conn.execute(insert(PaceSlot).values(key=key, taken_at=until))

    def held_for(self, key: str) -> float:
        """Seconds until the latest hold of `key` ends (0 if none)."""
        with self._engine.connect() as conn:
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            until = conn.execute(
                select(func.max(PaceSlot.taken_at)).where(PaceSlot.key == key)
            ).scalar_one()
        return 0.0 if until is None else max(0.0, float((until - now).total_seconds()))


class Holds(Protocol):
    """Where a sender's hold is kept."""

    def hold(self, key: str, *, seconds: float) -> None: ...
    def held_for(self, key: str) -> float: ...


# Set the key to expire `ARGV[1]` ms from now, unless it already expires later.
EXTEND_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
"""


class RedisHolds:
    """Holds as Redis keys that expire when the hold ends (by Redis' clock)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)

    def hold(self, key: str, *, seconds: float) -> None:
        self._redis.eval(EXTEND_HOLD, 1, key, max(1, round(seconds * 1000)))

    def held_for(self, key: str) -> float:
        remaining = int(self._redis.pttl(key))  # -2: no key, -1: no expiry (never set so)
        return max(0.0, remaining / 1000)


class ProcessHolds:
    """Holds kept in this process, for the embedded queue (one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def hold(self, key: str, *, seconds: float) -> None:
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), time.monotonic() + seconds)

    def held_for(self, key: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(key, 0.0) - time.monotonic())


class SendPacer:
    """Paces one kind of call to `rate` per second per sender key (None: no pacing)."""

    def __init__(self, settings: Settings, *, rate: float | None, name: str) -> None:
        uri = settings.redis_url if settings.queue_backend == "redis" else "memory://"
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(uri))
        self._database: DatabaseWindow | None = None
        self._holds: Holds = ProcessHolds()
        if settings.queue_backend == "redis":
            self._holds = RedisHolds(settings.redis_url)
        elif settings.queue_backend == "postgres" and settings.is_postgres:
            database = DatabaseWindow(create_db_engine(settings.sqlalchemy_url))
            self._holds = database
            if rate is not None:
                self._database = database
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

    def hold(self, sender_key: str, seconds: float) -> None:
        """No call for this sender before `seconds` from now (the provider's Retry-After)."""
        self._holds.hold(self._hold_key(sender_key), seconds=seconds)

    def held_for(self, sender_key: str) -> float:
        """Seconds until this sender's hold ends (0 if it is not held)."""
        return self._holds.held_for(self._hold_key(sender_key))

    def _hold_key(self, sender_key: str) -> str:
        return f"proirp:{self._name}:{sender_key}:hold"

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> None:
        """Block until this sender may make one more call: its hold is over and its window has
        room. A hold set while this call waited for room is waited out too."""
        hold_key = self._hold_key(sender_key)
        while True:
            while (held := self._holds.held_for(hold_key)) > 0:
                time.sleep(min(1.0, max(poll, held)))
            self._take_slot(sender_key, poll=poll)
            if self._item is None or self._holds.held_for(hold_key) <= 0:
                return

    def _take_slot(self, sender_key: str, *, poll: float) -> None:
        if self._item is None:
            return
        key = f"proirp:{self._name}:{sender_key}"
        if self._database is not None:
            window = float(self._item.get_expiry())
            while (wait := self._database.take(key, calls=self._item.amount, window=window)) > 0:
                time.sleep(min(1.0, max(poll, wait)))
            return
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
