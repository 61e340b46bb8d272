"""Where the leases on an account's requests in flight are kept, for processes that share them:
in Redis (QUEUE_BACKEND=redis) or in the database (QUEUE_BACKEND=postgres).

A lease is claimed only while fewer than the limit are unexpired, renewed while its call runs,
and released after it. Expiry is by the store's own clock (Redis' TIME, PostgreSQL's
clock_timestamp()), so hosts whose clocks differ agree on it. A release or renewal of a lease
that has expired changes nothing: the slot may be someone else's by then.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Engine

from proirp.calendars.models import CalendarCallSlot

# KEYS[1]: the account's sorted set of lease ids scored by their expiry (ms, Redis' clock).
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
_EXPIRE = "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
# ARGV: the lease id, the limit, the lease (ms). 1 if claimed.
_CLAIM = (
    _NOW
    + _EXPIRE
    + "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end "
    + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1]) "
    + "redis.call('PEXPIRE', KEYS[1], ARGV[3]) return 1"
)
# ARGV: the lease id, the lease (ms). 1 if the lease was still held and is now renewed.
_RENEW = (
    _NOW
    + _EXPIRE
    + "if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 0 then "
    + "return 0 end redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1"
)


class LeaseStore(Protocol):
    def claim(self, key: str, lease_id: str, *, limit: int, lease: float) -> bool: ...

    def renew(self, key: str, lease_id: str, *, lease: float) -> bool: ...

    def release(self, key: str, lease_id: str) -> None: ...


class RedisLeases:
    """A sorted set per account, changed only by small Lua scripts (each one atomic)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._claim = self._redis.register_script(_CLAIM)
        self._renew = self._redis.register_script(_RENEW)

    def claim(self, key: str, lease_id: str, *, limit: int, lease: float) -> bool:
        return bool(self._claim(keys=[key], args=[lease_id, limit, _ms(lease)]))

    def renew(self, key: str, lease_id: str, *, lease: float) -> bool:
        return bool(self._renew(keys=[key], args=[lease_id, _ms(lease)]))

    def release(self, key: str, lease_id: str) -> None:
        self._redis.zrem(key, lease_id)


class DatabaseLeases:
    """Rows of `calendar_call_slots`, claimed one transaction at a time under the account's
    advisory lock (PostgreSQL), as comms/core/pacing.py keeps a sending number's pace."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, key: str, lease_id: str, *, limit: int, lease: float) -> bool:
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            slots = CalendarCallSlot
            conn.execute(delete(slots).where(slots.key == key, slots.expires_at <= now))
            held = conn.execute(select(func.count()).where(slots.key == key)).scalar_one()
            if held >= limit:
                return False
            expires = now + timedelta(seconds=lease)
            conn.execute(insert(slots).values(lease_id=lease_id, key=key, expires_at=expires))
            return True

    def renew(self, key: str, lease_id: str, *, lease: float) -> bool:
        slots = CalendarCallSlot
        with self._engine.begin() as conn:
            now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            renewed = conn.execute(
                update(slots)
                .where(slots.lease_id == lease_id, slots.expires_at > now)
                .values(expires_at=now + timedelta(seconds=lease))
            )
            return bool(renewed.rowcount)

    def release(self, key: str, lease_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(CalendarCallSlot).where(CalendarCallSlot.lease_id == lease_id))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
