"""Outlook calendar events as Microsoft Graph v1.0 shows them: one event in one mailbox, its ID,
and its resource. Times are kept in UTC with the zone names they were given
(`originalStartTimeZone`) and shown in the zone the client prefers; `event_bodies` makes and
changes events from create/update bodies.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote

from proirp.sandbox.microsoft.zones import graph_local, graph_utc, zone_named

ID_PREFIX = b"\x00\x00\x8e\x24\x00"  # every Outlook item ID of the sandbox starts alike
ID_RANDOM_BYTES = 105  # 148 characters with one `=`, about Outlook's length
_TAG = re.compile(r"<[^>]*>")


def new_event_id() -> str:
    """A fresh ID shaped like Outlook's (long, URL-safe base64, padded)."""
    raw = ID_PREFIX + secrets.token_bytes(ID_RANDOM_BYTES)
    return base64.urlsafe_b64encode(raw).decode()


def is_event_id(value: str) -> bool:
    """Whether `value` could be one of the sandbox's event IDs (else Graph says malformed)."""
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, UnicodeEncodeError):
        return False
    return raw.startswith(ID_PREFIX) and len(raw) == len(ID_PREFIX) + ID_RANDOM_BYTES


@dataclass
class EventRecord:
    """One event in one mailbox, with the change number delta compares against and the
    positions it had (change, start, end, live) so a delta round knows what a client saw."""

    id: str
    account: str
    organizer_name: str
    created: datetime
    modified: datetime
    change: int
    start_at: datetime
    end_at: datetime
    start_zone: str = "UTC"
    end_zone: str = "UTC"
    subject: str = ""
    body_type: str = "text"
    body: str = ""
    location: str = ""
    is_all_day: bool = False
    show_as: str = "busy"
    categories: list[str] = field(default_factory=list)
    importance: str = "normal"
    sensitivity: str = "normal"
    is_reminder_on: bool = True
    reminder_minutes: int = 15
    attendees: list[dict[str, Any]] = field(default_factory=list)
    transaction_id: str | None = None
    ical_uid: str = field(
        default_factory=lambda: (
            "040000008200E00074C5B7101A82E008" + "0" * 8 + secrets.token_hex(28).upper()
        )
    )
    deleted: bool = False
    history: list[tuple[int, datetime, datetime, bool]] = field(default_factory=list)
    # singleInstance; a series' seriesMaster (with its recurrence), its occurrences, and the
    # occurrences changed on their own (exception), which name their master and first start.
    kind: str = "singleInstance"
    recurrence: dict[str, Any] | None = None
    series_master_id: str | None = None
    original_start: datetime | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the event is live and falls (partly) within [start, end)."""
        return not self.deleted and self.start_at < end and self.end_at > start

    def was_within(self, change: int, start: datetime, end: datetime) -> bool:
        """Whether the event was live within [start, end) as of change number `change`."""
        seen = [entry for entry in self.history if entry[0] <= change]
        if not seen:
            return False
        _, was_start, was_end, live = seen[-1]
        return live and was_start < end and was_end > start

    @property
    def change_key(self) -> str:
        digest = hashlib.sha256(f"{self.id}:{self.change}".encode()).digest()[:16]
        return base64.b64encode(digest).decode()

    @property
    def etag(self) -> str:
        """`@odata.etag`, what `If-Match` names: a new one with every change."""
        return f'W/"{self.change_key}"'

    def _series(self) -> dict[str, Any]:
        series: dict[str, Any] = {
            "type": self.kind,
            "seriesMasterId": self.series_master_id,
            "recurrence": self.recurrence,
        }
        if self.original_start is not None:
            series["originalStart"] = self.original_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        return series

    def resource(self, zone: tzinfo, zone_name: str) -> dict[str, Any]:
        """The event as Graph shows it, times in `zone` (named `zone_name`)."""
        preview = " ".join(_TAG.sub(" ", self.body).split())[:255]
        location: dict[str, Any] = {
            "displayName": self.location,
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
        if self.location:
            location.update(uniqueId=self.location, uniqueIdType="private")
        return {
            "@odata.etag": self.etag,
            "id": self.id,
            "createdDateTime": graph_utc(self.created),
            "lastModifiedDateTime": graph_utc(self.modified),
            "changeKey": self.change_key,
            "categories": list(self.categories),
            "transactionId": self.transaction_id,
            "originalStartTimeZone": self.start_zone,
            "originalEndTimeZone": self.end_zone,
            "iCalUId": self.ical_uid,
            "uid": self.ical_uid,
            "reminderMinutesBeforeStart": self.reminder_minutes,
            "isReminderOn": self.is_reminder_on,
            "hasAttachments": False,
            "subject": self.subject,
            "bodyPreview": preview,
            "importance": self.importance,
            "sensitivity": self.sensitivity,
            "isAllDay": self.is_all_day,
            "isCancelled": False,
            "isOrganizer": True,
            "responseRequested": True,
            "showAs": self.show_as,
            "webLink": "https://outlook.office365.com/owa/?itemid="
            + quote(self.id, safe="")
            + "&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "allowNewTimeProposals": True,
            "isDraft": False,
            "hideAttendees": False,
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "body": {"contentType": self.body_type, "content": self.body},
            "start": {"dateTime": graph_local(self.start_at, zone), "timeZone": zone_name},
            "end": {"dateTime": graph_local(self.end_at, zone), "timeZone": zone_name},
            "location": location,
            "locations": [location] if self.location else [],
            "attendees": [dict(a) for a in self.attendees],
            "organizer": {"emailAddress": {"name": self.organizer_name, "address": self.account}},
            "onlineMeeting": None,
            **self._series(),
        }

    def as_held(self) -> dict[str, Any]:
        """The event with its times in the zones it was made in (as Outlook shows it)."""
        resource = self.resource(UTC, "UTC")
        for key, moment, name in (
            ("start", self.start_at, self.start_zone),
            ("end", self.end_at, self.end_zone),
        ):
            zone = zone_named(name) or UTC
            resource[key] = {"dateTime": graph_local(moment, zone), "timeZone": name}
        return resource
