"""Recurring events, as small as the product needs: a weekly series with a count.

A series is its master event (with `recurrence`) and one event per instance, made when the
series is, each with Google's instance ID (`<seriesId>_<YYYYMMDDTHHMMSSZ>` of its original
start in UTC, `<seriesId>_<YYYYMMDD>` for an all-day one), `recurringEventId` and
`originalStartTime`. An instance is an event of its own: patched, it moves alone (an
exception); deleted, it is cancelled alone. A change to the master reaches every instance not
changed on its own. Only `RRULE:FREQ=WEEKLY` with COUNT (and INTERVAL, and a BYDAY naming the
first instance's day) is imitated; any other rule is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from proirp.sandbox.google.errors import GoogleApiError
from proirp.sandbox.google.events import TEXT_FIELDS, EventRecord

MAX_COUNT = 730  # Google expands at most two years of daily instances; enough for weekly
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SUPPORTED = (
    "The sandbox imitates weekly series only: one RRULE:FREQ=WEEKLY with COUNT "
    "(INTERVAL and BYDAY of the first day allowed)."
)


@dataclass(frozen=True)
class Rule:
    count: int
    interval: int = 1
    day: str | None = None  # BYDAY, checked against the first instance's weekday


def _refused(message: str = "Invalid recurrence rule.") -> GoogleApiError:
    return GoogleApiError(400, "invalid", message)


def parse_recurrence(value: object) -> Rule:
    """An Event's `recurrence` (RFC 5545 lines) as the weekly rule the sandbox imitates."""
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        raise _refused()
    if len(value) != 1 or not value[0].startswith("RRULE:"):
        raise _refused(SUPPORTED)
    parts: dict[str, str] = {}
    for part in value[0].removeprefix("RRULE:").split(";"):
        name, sep, text = part.partition("=")
        if not sep or name in parts:
            raise _refused()
        parts[name.upper()] = text.upper()
    if parts.pop("FREQ", None) != "WEEKLY" or "COUNT" not in parts:
        raise _refused(SUPPORTED)
    count, interval = parts.pop("COUNT"), parts.pop("INTERVAL", "1")
    day = parts.pop("BYDAY", None)
    if parts or not count.isdigit() or not interval.isdigit() or (day and day not in DAYS):
        raise _refused(SUPPORTED)
    if not 1 <= int(count) <= MAX_COUNT or int(interval) < 1:
        raise _refused()
    return Rule(int(count), int(interval), day)


def instance_id(series_id: str, original: datetime, *, all_day: bool) -> str:
    """Google's ID of the instance the series first put at `original`."""
    if all_day:
        return f"{series_id}_{original.strftime('%Y%m%d')}"
    return f"{series_id}_{original.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


@dataclass(frozen=True)
class Times:
    start: dict[str, str]
    start_at: datetime
    end: dict[str, str]
    end_at: datetime


def _times(local: datetime, length: timedelta, zone_name: str, *, all_day: bool) -> Times:
    """An instance's start and end from its local start (wall-clock arithmetic: a weekly
    session stays at 9:00 across a change of daylight saving time)."""
    ends = local + length
    if all_day:
        return Times(
            {"date": local.date().isoformat()},
            local.astimezone(UTC),
            {"date": ends.date().isoformat()},
            ends.astimezone(UTC),
        )
    return Times(
        {"dateTime": local.isoformat(), "timeZone": zone_name},
        local.astimezone(UTC),
        {"dateTime": ends.isoformat(), "timeZone": zone_name},
        ends.astimezone(UTC),
    )


def _zone(master: EventRecord, default_zone: str) -> str:
    return master.start.get("timeZone") or default_zone


def instances(master: EventRecord, default_zone: str) -> list[EventRecord]:
    """The series' instances as first made (change numbers are the caller's to give)."""
    rule = parse_recurrence(master.recurrence)
    zone_name = _zone(master, default_zone)
    first = master.start_at.astimezone(ZoneInfo(zone_name))
    all_day = "date" in master.start
    if rule.day is not None and DAYS[first.weekday()] != rule.day:
        raise _refused(SUPPORTED)
    length = master.end_at - master.start_at
    made = []
    for index in range(rule.count):
        times = _times(
            first + timedelta(weeks=index * rule.interval), length, zone_name, all_day=all_day
        )
        instance = EventRecord(
            id=instance_id(master.id, times.start_at, all_day=all_day),
            calendar_id=master.calendar_id,
            organizer=master.organizer,
            created=master.created,
            updated=master.updated,
            change=0,
            start=times.start,
            end=times.end,
            start_at=times.start_at,
            end_at=times.end_at,
            status=master.status,
            recurring_event_id=master.id,
            original_start=dict(times.start),
            original_start_at=times.start_at,
        )
        for name in TEXT_FIELDS:
            setattr(instance, name, getattr(master, name))
        made.append(instance)
    return made


def follow(instance: EventRecord, master: EventRecord, shift: timedelta, default_zone: str) -> None:
    """Carry a change of the master to an instance not changed on its own: its texts, its
    status, and a move of the whole series by `shift`."""
    for name in TEXT_FIELDS:
        setattr(instance, name, getattr(master, name))
    instance.status = master.status
    zone_name = _zone(master, default_zone)
    local = (instance.start_at + shift).astimezone(ZoneInfo(zone_name))
    length = master.end_at - master.start_at
    times = _times(local, length, zone_name, all_day="date" in master.start)
    instance.start, instance.start_at = times.start, times.start_at
    instance.end, instance.end_at = times.end, times.end_at
