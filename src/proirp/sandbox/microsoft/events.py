"""Outlook calendar events as Microsoft Graph v1.0 shows them, and the create/update bodies that
make them.

Only single-instance events are modelled. The properties the product uses are kept (subject,
body, start, end, location, isAllDay, showAs, categories, attendees, transactionId, …); other
event properties in a body are accepted and ignored, as Graph ignores read-only ones; a name
that is no event property is refused, as Graph refuses it. Times are kept in UTC with the zone
names they were given (`originalStartTimeZone`) and shown in the zone the client prefers.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote

from proirp.sandbox.microsoft.errors import (
    GraphError,
    bad_request,
    undeserializable,
    unreadable_body,
)
from proirp.sandbox.microsoft.zones import graph_local, graph_utc, parse_local, zone_named

ID_PREFIX = b"\x00\x00\x8e\x24\x00"  # every Outlook item ID of the sandbox starts alike
ID_RANDOM_BYTES = 105  # 148 characters with one `=`, about Outlook's length
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
IMPORTANCE = ("low", "normal", "high")
SENSITIVITY = ("normal", "personal", "private", "confidential")
ATTENDEE_TYPES = ("required", "optional", "resource")
MODELLED = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "location",
        "isAllDay",
        "showAs",
        "categories",
        "importance",
        "sensitivity",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "attendees",
        "transactionId",
        "recurrence",
    }
)
# Event properties Graph knows that the sandbox accepts and ignores (read-only or unmodelled).
IGNORED = frozenset(
    {
        "@odata.type",
        "@odata.etag",
        "@odata.context",
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "iCalUId",
        "uid",
        "webLink",
        "type",
        "isCancelled",
        "isOrganizer",
        "isDraft",
        "bodyPreview",
        "organizer",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "originalStart",
        "responseStatus",
        "responseRequested",
        "seriesMasterId",
        "hasAttachments",
        "hideAttendees",
        "allowNewTimeProposals",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "onlineMeeting",
        "onlineMeetingUrl",
        "locations",
        "occurrenceId",
        "cancelledOccurrences",
        "exceptionOccurrences",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
        "extensions",
        "attachments",
    }
)
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


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise undeserializable()
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise undeserializable()
    return value


def _choice(value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise undeserializable()
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise undeserializable()


def _instant(value: object) -> tuple[datetime, str]:
    """A dateTimeTimeZone: the UTC instant and the zone name as given."""
    if not isinstance(value, dict):
        raise undeserializable()
    text, zone_name = value.get("dateTime"), value.get("timeZone") or "UTC"
    if not isinstance(text, str) or not isinstance(zone_name, str):
        raise undeserializable()
    zone = zone_named(zone_name)
    if zone is None:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{zone_name[:64]}'.",
        )
    moment = parse_local(text, zone)
    if moment is None:
        raise undeserializable()
    return moment, zone_name


def _attendees(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise undeserializable()
    attendees = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("emailAddress"), dict):
            raise undeserializable()
        email = item["emailAddress"]
        address, name = email.get("address"), email.get("name")
        if not isinstance(address, str) or (name is not None and not isinstance(name, str)):
            raise undeserializable()
        attendees.append(
            {
                "type": _choice(item.get("type", "required"), ATTENDEE_TYPES),
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": name or address, "address": address},
            }
        )
    return attendees


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
            "@odata.etag": f'W/"{self.change_key}"',
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
            "seriesMasterId": None,
            "showAs": self.show_as,
            "type": "singleInstance",
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
            "recurrence": None,
            "attendees": [dict(a) for a in self.attendees],
            "organizer": {"emailAddress": {"name": self.organizer_name, "address": self.account}},
            "onlineMeeting": None,
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


def check_body(body: object) -> dict[str, Any]:
    """A create/update body as a dict of event properties; 400 as Graph refuses others."""
    if not isinstance(body, dict):
        raise unreadable_body()
    for name in body:
        if name not in MODELLED and name not in IGNORED:
            # Property names are the client's code, never user data: Graph names them too.
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{str(name)[:64]}' does not exist on type "
                "'microsoft.graph.event'. Make sure to only use property names that are defined "
                "by the type or mark the type as open type.",
            )
    if body.get("recurrence") is not None:
        raise bad_request(
            "The sandbox imitates single-instance events only: recurrence must be null."
        )
    return body


def apply_body(record: EventRecord, body: dict[str, Any]) -> None:
    """Set the properties a checked body gives (an update leaves the others alone)."""
    start_at, start_zone = record.start_at, record.start_zone
    end_at, end_zone = record.end_at, record.end_zone
    if "start" in body:
        start_at, start_zone = _instant(body["start"])
    if "end" in body:
        end_at, end_zone = _instant(body["end"])
    all_day = _flag(body["isAllDay"]) if "isAllDay" in body else record.is_all_day
    if end_at < start_at:
        raise bad_request("The event's end time must not be before its start time.")
    if all_day:
        zone = zone_named(start_zone) or UTC
        local_start, local_end = start_at.astimezone(zone), end_at.astimezone(zone)
        whole = (local_end - local_start) >= timedelta(days=1)
        if (
            not whole
            or local_start.time() != datetime.min.time()
            or local_end.time() != datetime.min.time()
        ):
            raise bad_request(
                "An all-day event's start and end must be at midnight and at least a day apart.",
                code="ErrorPropertyValidationFailure",
            )
    values: dict[str, Any] = {}
    if "subject" in body:
        values["subject"] = "" if body["subject"] is None else _text(body["subject"])
    if "body" in body:
        item = body["body"] or {}
        if not isinstance(item, dict):
            raise undeserializable()
        values["body_type"] = _choice(item.get("contentType", "text"), ("text", "html"))
        values["body"] = _text(item.get("content") or "")
    if "location" in body:
        place = body["location"] or {}
        if not isinstance(place, dict):
            raise undeserializable()
        values["location"] = _text(place.get("displayName") or "")
    if "showAs" in body:
        values["show_as"] = _choice(body["showAs"], SHOW_AS)
    if "importance" in body:
        values["importance"] = _choice(body["importance"], IMPORTANCE)
    if "sensitivity" in body:
        values["sensitivity"] = _choice(body["sensitivity"], SENSITIVITY)
    if "isReminderOn" in body:
        values["is_reminder_on"] = _flag(body["isReminderOn"])
    if "reminderMinutesBeforeStart" in body:
        minutes = body["reminderMinutesBeforeStart"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
            raise undeserializable()
        values["reminder_minutes"] = minutes
    if "categories" in body:
        categories = body["categories"] or []
        if not isinstance(categories, list):
            raise undeserializable()
        values["categories"] = [_text(c) for c in categories]
    if "attendees" in body:
        values["attendees"] = _attendees(body["attendees"] or [])
    if "transactionId" in body and body["transactionId"] is not None:
        values["transaction_id"] = _text(body["transactionId"])
    record.start_at, record.start_zone, record.end_at, record.end_zone = (
        start_at,
        start_zone,
        end_at,
        end_zone,
    )
    record.is_all_day = all_day
    for name, value in values.items():
        setattr(record, name, value)


def new_event(
    body: object, *, account: str, organizer_name: str, now: datetime, change: int
) -> EventRecord:
    """An event from a create body (or one made on Microsoft's side), checked as Graph checks."""
    checked = check_body(body)
    if "start" not in checked or "end" not in checked:
        raise bad_request("An event needs a start and an end (dateTime and timeZone).")
    record = EventRecord(
        id=new_event_id(),
        account=account,
        organizer_name=organizer_name,
        created=now,
        modified=now,
        change=change,
        start_at=now,
        end_at=now,
    )
    apply_body(record, checked)
    return record
