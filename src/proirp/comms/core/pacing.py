"""Pacing provider calls to their allowed rate (TWILIO_MPS per sending number, and
SENDGRID_REQUESTS_PER_SECOND), shared by every worker thread and every worker process: in Redis
with QUEUE_BACKEND=redis (the `limits` library's moving window), in the database with
QUEUE_BACKEND=postgres (the same window: the calls of the last window counted under an advisory
lock), in the process with the embedded SQLite queue (one process). Never more than the rate in
any window, so the provider has no reason to answer 429.

When the provider answers with a Retry-After all the same (an outage, a limit of its own), the
pacer holds that sender until it allows, shared the same way (comms/core/holds.py). Every call
waits out the hold, from whichever thread or process; then one call goes alone (the probe), and
the others wait for its answer: another Retry-After holds them again, anything else lets them
all go. So no call reaches the provider after it gave a Retry-After and before that allowed,
short of those already on their way when it gave it."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from limits import RateLimitItemPerSecond, storage, strategies
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Engine

from proirp.comms.core.holds import DatabaseHolds, Holds, ProcessHolds, RedisHolds
from proirp.comms.models import PaceSlot
from proirp.config import Settings
from proirp.kit.db import create_db_engine

# After a hold ends, one call at a time until one is answered, for at most this long.
CAUTION_SECONDS = 300.0
# The longest a probe keeps the others waiting (its worker may have died mid-call).
PROBE_SECONDS = 60.0
PROBE_POLL_SECONDS = 0.05


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
            engine = create_db_engine(settings.sqlalchemy_url)
            self._holds = DatabaseHolds(engine)
            if rate is not None:
                self._database = DatabaseWindow(engine)
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
        """No call for this sender before `seconds` from now (the provider's Retry-After), and
        then one at a time until one is answered."""
        self._holds.extend(self._key(sender_key, "hold"), seconds=seconds)
        self._holds.extend(self._key(sender_key, "careful"), seconds=seconds + CAUTION_SECONDS)

    def held_for(self, sender_key: str) -> float:
        """Seconds until this sender's hold ends (0 if it is not held)."""
        return self._holds.held_for(self._key(sender_key, "hold"))

    def _key(self, sender_key: str, what: str) -> str:
        return f"proirp:{self._name}:{sender_key}:{what}"

    def wait_for_slot(self, sender_key: str, *, poll: float = 0.005) -> bool:
        """Block until this sender may make one more call: its hold is over, no probe is out,
        and its window has room. A hold set meanwhile is waited out too.

        True when this call is the probe after a hold: the caller must then call `answered`."""
        hold = self._key(sender_key, "hold")
        while True:
            while (held := self._holds.held_for(hold)) > 0:
                time.sleep(min(1.0, max(poll, held)))
            probe = self._holds.held_for(self._key(sender_key, "careful")) > 0
            if probe and not self._holds.claim(
                self._key(sender_key, "probe"), seconds=PROBE_SECONDS
            ):
                time.sleep(PROBE_POLL_SECONDS)  # another call is the probe: wait for its answer
                continue
            self._take_slot(sender_key, poll=poll)
            if self._holds.held_for(hold) <= 0:
                return probe
            if probe:
                self._holds.release(self._key(sender_key, "probe"))

    def answered(self, sender_key: str, *, probe: bool, held_again: bool) -> None:
        """After the probe's call: unless the provider held the sender again, the others may
        all go; either way the next call need not wait for this one."""
        if not probe:
            return
        if not held_again:
            self._holds.release(self._key(sender_key, "careful"))
        self._holds.release(self._key(sender_key, "probe"))

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
