"""Google Calendar's Event JSON in our terms, and ours as the bodies events.insert and
events.patch take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proirp.integrations.calendar import EventChange, EventInput, ProviderEvent


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _when(part: dict[str, Any] | None) -> tuple[datetime | None, bool]:
    if not part:
        return None, False
    if "dateTime" in part:
        return _utc(part["dateTime"]), False
    if "date" in part:
        return datetime.fromisoformat(part["date"]).replace(tzinfo=UTC), True
    return None, False


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_event(item: dict[str, Any], calendar_id: str | None = None) -> ProviderEvent:
    """An Event resource (a cancelled one may carry only its id, series and original start)."""
    start, all_day = _when(item.get("start"))
    end, _ = _when(item.get("end"))
    original, _ = _when(item.get("originalStartTime"))
    return ProviderEvent(
        id=str(item["id"]),
        status=str(item.get("status", "confirmed")),
        title=item.get("summary"),
        description=item.get("description"),
        location=item.get("location"),
        start_at=start,
        end_at=end,
        all_day=all_day,
        etag=item.get("etag"),
        updated_at=_utc(item.get("updated")),
        calendar_id=calendar_id,
        series_id=item.get("recurringEventId"),
        original_start_at=original,
    )


def _moment(moment: datetime, time_zone: str | None) -> dict[str, str]:
    part = {"dateTime": moment.isoformat()}
    if time_zone:
        part["timeZone"] = time_zone
    return part


def insert_body(event: EventInput) -> dict[str, Any]:
    """events.insert's body for a new event."""
    body: dict[str, Any] = {
        "summary": event.title,
        "start": _moment(event.start_at, event.time_zone),
        "end": _moment(event.end_at, event.time_zone),
    }
    if event.description:
        body["description"] = event.description
    if event.location:
        body["location"] = event.location
    return body


def patch_body(change: EventChange) -> dict[str, Any]:
    """events.patch's body: only what changes. Patch semantics clear a field sent as null."""
    body: dict[str, Any] = {}
    for name, value in (
        ("summary", change.title),
        ("description", change.description),
        ("location", change.location),
    ):
        if value is not None:
            body[name] = value or None
    if change.start_at is not None:
        body["start"] = _moment(change.start_at, change.time_zone)
    if change.end_at is not None:
        body["end"] = _moment(change.end_at, change.time_zone)
    return body
