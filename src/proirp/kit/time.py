"""Time helpers: every datetime in Pro IRP is timezone-aware, UTC in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The current time, aware, in UTC: the real clock's, or the one `set_clock` installed."""
    if _clock is not None:
        return _clock().astimezone(UTC)
    return datetime.now(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Make `utcnow()` read `clock` (tests move time this way, never by sleeping); None restores
    the real clock."""
    global _clock
    _clock = clock


class ManualClock:
    """A clock that stands still until it is moved: `set_clock(ManualClock(at))`."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock's time needs an offset")
        self.now = at

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime column that only accepts aware datetimes and always returns them in UTC.

    SQLite keeps no offset, so values are normalised to UTC on the way in and tagged on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
