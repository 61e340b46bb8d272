"""Recurring events, as small as the product needs: a weekly series with a number of
occurrences.

A series is its master (`type: seriesMaster`, with `recurrence`) and one event per occurrence,
made when the series is, each with an ID of its own, `seriesMasterId`, `originalStart` and
`type: occurrence`. calendarView and its delta list the occurrences, never the master, as Graph
does. An occurrence updated on its own becomes an `exception` (it no longer follows the master);
deleted, it goes alone (delta: `@removed`). A change to the master reaches every occurrence not
changed on its own. Only a `weekly` pattern on the first occurrence's day with a `numbered`
range is imitated; any other recurrence is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from proirp.sandbox.microsoft.errors import GraphError, bad_request
from proirp.sandbox.microsoft.events import EventRecord, new_event_id
from proirp.sandbox.microsoft.zones import zone_named

MAX_OCCURRENCES = 730
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SUPPORTED = (
    "The sandbox imitates weekly series only: pattern type weekly (interval, and daysOfWeek "
    "naming the first occurrence's day) with a numbered range."
)
# What an occurrence takes from its master (and follows while not changed on its own).
FOLLOWED = (
    "subject",
    "body_type",
    "body",
    "location",
    "show_as",
    "categories",
    "importance",
    "sensitivity",
    "is_reminder_on",
    "reminder_minutes",
    "attendees",
)


def _local_day(record: EventRecord) -> str:
    zone = zone_named(record.start_zone) or UTC
    return DAYS[record.start_at.astimezone(zone).weekday()]


def check_recurrence(value: object, first: EventRecord) -> dict[str, Any]:
    """A patternedRecurrence the sandbox imitates, as Graph shows it back; 400 otherwise."""
    if not isinstance(value, dict):
        raise GraphError(400, "UnableToDeserializePostBody", "were unable to deserialize ")
    pattern, span = value.get("pattern"), value.get("range")
    if not isinstance(pattern, dict) or not isinstance(span, dict):
        raise bad_request(SUPPORTED)
    interval, count = pattern.get("interval", 1), span.get("numberOfOccurrences")
    days = pattern.get("daysOfWeek")
    if (
        pattern.get("type") != "weekly"
        or span.get("type") != "numbered"
        or not isinstance(interval, int)
        or not isinstance(count, int)
        or not interval >= 1
        or not 1 <= count <= MAX_OCCURRENCES
        or days != [_local_day(first)]
    ):
        raise bad_request(SUPPORTED)
    zone = zone_named(first.start_zone) or UTC
    return {
        "pattern": {
            "type": "weekly",
            "interval": interval,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": list(days),
            "firstDayOfWeek": str(pattern.get("firstDayOfWeek") or "sunday"),
            "index": "first",
        },
        "range": {
            "type": "numbered",
            "startDate": first.start_at.astimezone(zone).date().isoformat(),
            "endDate": "0001-01-01",
            "recurrenceTimeZone": first.start_zone,
            "numberOfOccurrences": count,
        },
    }


def _at(record: EventRecord, master: EventRecord, start_local_shift: timedelta) -> None:
    """Put `record` at the master's wall-clock start moved by `start_local_shift`, with the
    master's length (wall-clock arithmetic: a 9:00 session stays at 9:00 across DST)."""
    zone = zone_named(master.start_zone) or UTC
    local = master.start_at.astimezone(zone) + start_local_shift
    record.start_at = local.astimezone(UTC)
    record.end_at = (local + (master.end_at - master.start_at)).astimezone(UTC)
    record.start_zone, record.end_zone = master.start_zone, master.end_zone


def occurrences(master: EventRecord) -> list[EventRecord]:
    """The series' occurrences as first made (change numbers are the caller's to give)."""
    assert master.recurrence is not None
    interval = int(master.recurrence["pattern"]["interval"])
    count = int(master.recurrence["range"]["numberOfOccurrences"])
    made = []
    for index in range(count):
        occurrence = replace(
            master,
            id=new_event_id(),
            kind="occurrence",
            series_master_id=master.id,
            recurrence=None,
            transaction_id=None,
            categories=list(master.categories),
            attendees=[dict(a) for a in master.attendees],
            history=[],
        )
        _at(occurrence, master, timedelta(weeks=index * interval))
        occurrence.original_start = occurrence.start_at
        made.append(occurrence)
    return made


def follow(occurrence: EventRecord, master: EventRecord, series_start: datetime) -> None:
    """Carry a change of the master to an occurrence not changed on its own: its properties,
    and its place, as many weeks after the master's (new) start as it first was after
    `series_start`, the first occurrence's original start."""
    for name in FOLLOWED:
        value = getattr(master, name)
        setattr(occurrence, name, list(value) if isinstance(value, list) else value)
    assert occurrence.original_start is not None
    zone = zone_named(master.start_zone) or UTC
    offset = occurrence.original_start.astimezone(zone).replace(tzinfo=None) - (
        series_start.astimezone(zone).replace(tzinfo=None)
    )
    _at(occurrence, master, offset)
