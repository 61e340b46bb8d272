"""The create/update bodies that make and change Outlook events, checked as Graph checks them.

Single events and weekly series (recurrence.py) are modelled. The properties the product uses are
kept (subject, body, start, end, location, isAllDay, showAs, categories, attendees,
transactionId, recurrence, …); other
event properties in a body are accepted and ignored, as Graph ignores read-only ones; a name
that is no event property is refused, as Graph refuses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from proirp.sandbox.microsoft.errors import (
    GraphError,
    bad_request,
    undeserializable,
    unreadable_body,
)
from proirp.sandbox.microsoft.events import EventRecord, new_event_id
from proirp.sandbox.microsoft.recurrence import check_recurrence
from proirp.sandbox.microsoft.zones import parse_local, zone_named

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
    if checked.get("recurrence") is not None:
        record.recurrence = check_recurrence(checked["recurrence"], record)
        record.kind = "seriesMaster"
    return record
