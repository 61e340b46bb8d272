"""Time-zone names: one check for the practice's setting, client records and calendar events."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, available_timezones

# Longer than any name in the IANA database; a longer one is refused before any look-up.
MAX_LENGTH = 64


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    """`name` if it is a zone of the IANA time-zone database, or ValueError (never quoting it).

    Only the database's list of zones counts: a folder of it (`America`), a path, a file that
    is not a zone or an overlong name is refused, where loading it would raise an OSError.
    """
    if len(name) > MAX_LENGTH or name not in _names():
        raise ValueError("not an IANA time zone, e.g. America/Chicago")
    ZoneInfo(name)  # listed, so it loads
    return name
