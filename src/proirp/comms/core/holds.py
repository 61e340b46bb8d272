"""Moments a sender is held until, shared by every worker thread and process the way the send
pace is: Redis keys that expire then (QUEUE_BACKEND=redis), rows of `pace_slots` dated then
(QUEUE_BACKEND=postgres, by the database's clock), or a table in the process (the embedded
queue). comms/core/pacing.py keeps a provider's Retry-After, and the one call at a time that
follows it, with these."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, exists, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from proirp.comms.models import PaceSlot


class Holds(Protocol):
    """Where holds are kept; a key is held until a moment, or not at all."""

    def extend(self, key: str, *, seconds: float) -> None:
        """Hold `key` until `seconds` from now, unless it is already held longer."""
        ...

    def claim(self, key: str, *, seconds: float) -> bool:
        """Hold `key` for `seconds` if nobody holds it; whether this caller now does."""
        ...

    def held_for(self, key: str) -> float:
        """Seconds until `key`'s hold ends (0 if it is not held)."""
        ...

    def release(self, key: str) -> None:
        """End `key`'s hold now."""
        ...


# Set the key to expire `ARGV[1]` ms from now, unless it already expires later.
EXTEND = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
"""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisHolds:
    """Holds as Redis keys that expire when the hold ends (by Redis' clock)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)

    def extend(self, key: str, *, seconds: float) -> None:
        self._redis.eval(EXTEND, 1, key, _ms(seconds))

    def claim(self, key: str, *, seconds: float) -> bool:
        return bool(self._redis.set(key, "1", px=_ms(seconds), nx=True))

    def held_for(self, key: str) -> float:
        remaining = int(self._redis.pttl(key))  # -2: no key, -1: no expiry (never set so)
        return max(0.0, remaining / 1000)

    def release(self, key: str) -> None:
        self._redis.delete(key)


class DatabaseHolds:
    """Holds as `pace_slots` rows dated when they end, each change under the key's advisory
    lock, by the database's clock."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def _locked_now(conn: Connection, key: str) -> datetime:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        conn.execute(delete(PaceSlot).where(PaceSlot.key == key, PaceSlot.taken_at <= now))
        return now

    def extend(self, key: str, *, seconds: float) -> None:
        with self._engine.begin() as conn:
            now = self._locked_now(conn, key)
            conn.execute(
                insert(PaceSlot).values(key=key, taken_at=now + timedelta(seconds=seconds))
            )

    def claim(self, key: str, *, seconds: float) -> bool:
        with self._engine.begin() as conn:
            now = self._locked_now(conn, key)
            if conn.execute(select(exists().where(PaceSlot.key == key))).scalar_one():
                return False
            conn.execute(
                insert(PaceSlot).values(key=key, taken_at=now + timedelta(seconds=seconds))
            )
            return True

    def held_for(self, key: str) -> float:
        with self._engine.connect() as conn:
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            until = conn.execute(
                select(func.max(PaceSlot.taken_at)).where(PaceSlot.key == key)
            ).scalar_one()
        return 0.0 if until is None else max(0.0, float((until - now).total_seconds()))

    def release(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(PaceSlot).where(PaceSlot.key == key))


class ProcessHolds:
    """Holds kept in this process, for the embedded queue (one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def extend(self, key: str, *, seconds: float) -> None:
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), time.monotonic() + seconds)

    def claim(self, key: str, *, seconds: float) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._until.get(key, 0.0) > now:
                return False
            self._until[key] = now + seconds
            return True

    def held_for(self, key: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(key, 0.0) - time.monotonic())

    def release(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)
