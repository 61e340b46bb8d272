"""Time helpers: every datetime in Pro IRP is timezone-aware, UTC in the database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class Clock:
    """The product's clock. Real time, unless a test or a benchmark has set it (`set_clock`):
    then every `utcnow()` in the process answers the set time, which moves only when told, so
    reminders, schedules and backoffs can be driven through a week without sleeping through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fixed: datetime | None = None

    def now(self) -> datetime:
        fixed = self._fixed
        return datetime.now(UTC) if fixed is None else fixed

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock takes an aware time")
        with self._lock:
            self._fixed = moment.astimezone(UTC)

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            if self._fixed is None:
                raise RuntimeError("the clock runs in real time; set it first")
            self._fixed += by
            return self._fixed

    def release(self) -> None:
        with self._lock:
            self._fixed = None


CLOCK = Clock()


def utcnow() -> datetime:
    """The current time, aware, in UTC (the set time, if the clock has been set)."""
    return CLOCK.now()


@contextmanager
def set_clock(moment: datetime) -> Iterator[Clock]:
    """The clock stands at `moment` (and moves only by `advance`) until the block ends."""
    CLOCK.set(moment)
    try:
        yield CLOCK
    finally:
        CLOCK.release()


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
