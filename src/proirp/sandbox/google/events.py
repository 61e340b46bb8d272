"""Calendar events as the Calendar API v3 shows them, and the insert/patch bodies that make them.

Only the Event properties the product uses are modelled (summary, description, location, start,
end, status, and a weekly series' recurrence: see recurrence.py); others in a request body are
accepted and ignored, as Google ignores read-only ones.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from proirp.sandbox.google.errors import GoogleApiError, invalid, required

TEXT_FIELDS = ("summary", "description", "location")
# Google's event IDs: base32hex characters (a-v, 0-9), 5 to 1024 of them.
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp as Google writes `created`/`updated` (milliseconds, `Z`)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_rfc3339(value: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset (as timeMin/timeMax need), else None."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def new_event_id() -> str:
    """A fresh event ID (hex digits are base32hex digits too)."""
    return secrets.token_hex(13)


def _instant(value: object, which: str, default_zone: str) -> tuple[dict[str, str], datetime]:
    """An EventDateTime as given (dateTime+timeZone, or date) and the UTC instant it starts."""
    if not isinstance(value, dict):
        raise required(f"Missing {which} time.")
    zone_name = value.get("timeZone")
    if zone_name is not None and not isinstance(zone_name, str):
        raise invalid()
    if "dateTime" in value and value["dateTime"] is not None:
        text = value["dateTime"]
        try:
            moment = datetime.fromisoformat(text) if isinstance(text, str) else None
            zone = ZoneInfo(zone_name or default_zone)
        except (ValueError, ZoneInfoNotFoundError):
            moment = None
        if moment is None:
            raise GoogleApiError(400, "invalid", f"Invalid {which} time.")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        shown = {"dateTime": text}
        if zone_name:
            shown["timeZone"] = zone_name
        return shown, moment.astimezone(UTC)
    if "date" in value and value["date"] is not None:
        try:
            day = date.fromisoformat(value["date"]) if isinstance(value["date"], str) else None
        except ValueError:
            day = None
        if day is None:
            raise GoogleApiError(400, "invalid", f"Invalid {which} time.")
        # All-day events are compared at midnight in the calendar's zone.
        midnight = datetime.combine(day, time(), tzinfo=ZoneInfo(default_zone))
        return {"date": day.isoformat()}, midnight.astimezone(UTC)
    raise required(f"Missing {which} time.")


@dataclass
class EventRecord:
    """One event on one calendar, with the change number incremental sync compares against."""

    id: str
    calendar_id: str
    organizer: str
    created: datetime
    updated: datetime
    change: int
    start: dict[str, str]
    end: dict[str, str]
    start_at: datetime
    end_at: datetime
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    status: str = "confirmed"
    sequence: int = 0
    recurrence: list[str] | None = None  # a series' master
    recurring_event_id: str | None = None  # an instance: its series, and where it was put
    original_start: dict[str, str] | None = None
    original_start_at: datetime | None = None
    exception: bool = False  # an instance changed on its own (no longer follows the master)

    @property
    def etag(self) -> str:
        """A new one with every change (the change number is in it)."""
        return f'"{int(self.updated.timestamp() * 1000)}{self.change:06d}"'

    def _instance_of(self) -> dict[str, Any]:
        if self.recurring_event_id is None or self.original_start is None:
            return {}
        return {
            "recurringEventId": self.recurring_event_id,
            "originalStartTime": dict(self.original_start),
        }

    def resource(self) -> dict[str, Any]:
        """The Event resource Google answers with (a cancelled one is reduced, as Google does)."""
        etag = self.etag
        if self.status == "cancelled":
            reduced = {"kind": "calendar#event", "etag": etag, "id": self.id, "status": "cancelled"}
            return {**reduced, **self._instance_of()}
        eid = base64.urlsafe_b64encode(f"{self.id} {self.calendar_id}".encode()).decode()
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": etag,
            "id": self.id,
            "status": self.status,
            "htmlLink": "https://www.google.com/calendar/event?eid=" + eid.rstrip("="),
            "created": rfc3339(self.created),
            "updated": rfc3339(self.updated),
        }
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                resource[name] = value
        resource.update(
            creator={"email": self.organizer, "self": True},
            organizer={"email": self.organizer, "self": True},
            start=dict(self.start),
            end=dict(self.end),
            iCalUID=f"{(self.recurring_event_id or self.id)}@google.com",
            sequence=self.sequence,
            reminders={"useDefault": True},
            eventType="default",
            **self._instance_of(),
        )
        if self.recurrence is not None:
            resource["recurrence"] = list(self.recurrence)
        return resource


def new_event(
    body: object,
    *,
    calendar_id: str,
    organizer: str,
    now: datetime,
    change: int,
    default_zone: str,
) -> EventRecord:
    """An event from an events.insert body (or a sandbox control body), checked as Google checks."""
    if not isinstance(body, dict):
        raise GoogleApiError(400, "parseError", "Parse Error")
    if "end" not in body:
        raise required("Missing end time.")
    start, start_at = _instant(body.get("start"), "start", default_zone)
    end, end_at = _instant(body.get("end"), "end", default_zone)
    if ("date" in start) != ("date" in end):
        raise invalid("Start and end times must either both be date or both be dateTime.")
    if end_at < start_at:
        raise GoogleApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    event_id = body.get("id")
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise invalid("Invalid resource id value.")
    status = body.get("status", "confirmed")
    if status not in ("confirmed", "tentative"):
        raise invalid()
    record = EventRecord(
        id=event_id,
        calendar_id=calendar_id,
        organizer=organizer,
        created=now,
        updated=now,
        change=change,
        start=start,
        end=end,
        start_at=start_at,
        end_at=end_at,
        status=status,
    )
    for name in TEXT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid()
        setattr(record, name, value)
    if body.get("recurrence") is not None:
        record.recurrence = body["recurrence"]  # checked as the series is made
    return record


def apply_patch(
    record: EventRecord, body: object, *, now: datetime, change: int, default_zone: str
) -> None:
    """Change an event as events.patch does: only the properties given; null clears text."""
    if not isinstance(body, dict):
        raise GoogleApiError(400, "parseError", "Parse Error")
    start, start_at = record.start, record.start_at
    end, end_at = record.end, record.end_at
    if "start" in body:
        start, start_at = _instant(body["start"], "start", default_zone)
    if "end" in body:
        end, end_at = _instant(body["end"], "end", default_zone)
    if ("date" in start) != ("date" in end):
        raise invalid("Start and end times must either both be date or both be dateTime.")
    if end_at < start_at:
        raise GoogleApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    status = body.get("status", record.status)
    if status not in ("confirmed", "tentative", "cancelled"):
        raise invalid()
    for name in TEXT_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise invalid()
    # A moved event is a new version for attendees (sequence), as at Google.
    if (start_at, end_at) != (record.start_at, record.end_at):
        record.sequence += 1
    record.start, record.start_at, record.end, record.end_at = start, start_at, end, end_at
    for name in TEXT_FIELDS:
        if name in body:
            setattr(record, name, body[name])
    record.status = status
    record.updated = now
    record.change = change
