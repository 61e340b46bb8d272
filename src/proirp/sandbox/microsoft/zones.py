"""Time zones as Graph names them, and Graph's way of writing a date and time.

Graph takes IANA names and Windows names ("Pacific Standard Time") in `timeZone` and in
`Prefer: outlook.timezone`; it writes `dateTime` without an offset and with seven fractional
digits ("2026-11-27T15:00:00.0000000"), the zone beside it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The Windows names a US practice meets, and a few more (CLDR's windowsZones, territory 001).
WINDOWS_ZONES = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "US Eastern Standard Time": "America/Indianapolis",
    "Canada Central Standard Time": "America/Regina",
    "Mexico Standard Time": "America/Mexico_City",
    "SA Pacific Standard Time": "America/Bogota",
    "E. South America Standard Time": "America/Sao_Paulo",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
}
_WINDOWS_BY_LOWER = {name.lower(): iana for name, iana in WINDOWS_ZONES.items()}
# Graph's dateTime: no offset; fractional digits (any number) optional.
_LOCAL = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?")


def zone_named(name: str) -> tzinfo | None:
    """The zone a Graph `timeZone` names (Windows or IANA name), or None if Graph knows none."""
    iana = _WINDOWS_BY_LOWER.get(name.strip().lower(), name.strip())
    if iana.upper() in ("UTC", "ETC/UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_local(text: str, zone: tzinfo) -> datetime | None:
    """A Graph `dateTime` read in `zone` (an offset in the text wins); None if unreadable."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        match = _LOCAL.fullmatch(text)
        if match is None:
            return None
        # Python before 3.11.? takes at most six fractional digits; Graph writes seven.
        digits = (match.group(2) or "0")[:6].ljust(6, "0")
        try:
            moment = datetime.fromisoformat(f"{match.group(1)}.{digits}")
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_window(text: str) -> datetime | None:
    """A calendarView bound (ISO 8601; no offset means UTC), or None if unreadable."""
    return parse_local(text.strip().replace(" ", "+"), UTC)


def graph_local(moment: datetime, zone: tzinfo) -> str:
    """`moment` in `zone` as Graph writes dateTime (seven fractional digits, no offset)."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def graph_utc(moment: datetime) -> str:
    """A UTC timestamp as Graph writes createdDateTime (seven fractional digits and `Z`)."""
    return graph_local(moment, UTC) + "Z"
