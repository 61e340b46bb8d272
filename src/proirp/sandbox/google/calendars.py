"""Every account's primary calendar and its events, with the change numbers sync tokens name.

Each account has one calendar, its primary, whose ID is the account's email address, as at
Google. Every change to any event takes the next change number; a sync token remembers the
number its listing saw. Not thread-safe on its own: GoogleSandbox calls it under its state lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proirp.sandbox.google.errors import GoogleApiError, not_found
from proirp.sandbox.google.events import EventRecord, apply_patch, new_event, rfc3339
from proirp.sandbox.google.listing import (
    ListQuery,
    PagePosition,
    SyncPoint,
    page_of,
    page_token,
    read_page_token,
    read_sync_token,
    sync_token,
)
from proirp.sandbox.google.recurrence import follow, instances

DEFAULT_TIME_ZONE = "UTC"
DEFAULT_REMINDERS = [{"method": "popup", "minutes": 10}]


@dataclass
class Calendar:
    """An account's primary calendar."""

    account: str
    time_zone: str = DEFAULT_TIME_ZONE
    events: dict[str, EventRecord] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.account


class CalendarStore:
    """Calendars by account, events by ID, the change counter and the sync-token epoch."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        epoch: int = 0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_change = on_change or (lambda _calendar_id: None)  # push (channels.py)
        self._calendars: dict[str, Calendar] = {}  # account (lower case) -> its calendar
        self._events: dict[str, EventRecord] = {}  # event ID -> event, every calendar
        self._change = 0
        self._sync_epoch = epoch  # bumped by expire_sync_tokens(); older tokens get 410

    @property
    def epoch(self) -> int:
        """Sync tokens name the epoch they were issued in; only the current one is good."""
        return self._sync_epoch

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def calendar(self, account: str) -> Calendar:
        """An account's primary calendar (made on first use, as a new Google account has one)."""
        key = account.lower()
        calendar = self._calendars.get(key)
        if calendar is None:
            calendar = self._calendars[key] = Calendar(account=key)
        return calendar

    def resolve(self, account: str, calendar_id: str) -> Calendar:
        """The calendar a path's calendarId names for this account (`primary` or its email)."""
        if calendar_id != "primary" and calendar_id.lower() != account.lower():
            raise not_found()
        return self.calendar(account)

    def event(self, calendar: Calendar, event_id: str) -> EventRecord:
        """One event of a calendar; 404 when it has none with this ID."""
        record = calendar.events.get(event_id)
        if record is None:
            raise not_found()
        return record

    def find(self, event_id: str) -> tuple[Calendar, EventRecord] | None:
        """An event on any calendar, for changes made on Google's side."""
        record = self._events.get(event_id)
        if record is None:
            return None
        return self._calendars[record.calendar_id], record

    def calendar_list(self, account: str) -> dict[str, Any]:
        """users/me/calendarList: the account's primary calendar."""
        calendar = self.calendar(account)
        entry = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{self._change:016d}"',
            "id": calendar.id,
            "summary": calendar.account,
            "timeZone": calendar.time_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": DEFAULT_REMINDERS,
            "primary": True,
        }
        etag = f'"p{self._change:015d}"'
        return {"kind": "calendar#calendarList", "etag": etag, "items": [entry]}

    def list_page(
        self, calendar: Calendar, query: ListQuery, *, max_age: float | None
    ) -> dict[str, Any]:
        """events.list: one page of a full or incremental listing."""
        if query.page_token is not None:
            position = read_page_token(query.page_token, query)
        else:
            since = None
            if query.sync_token is not None:
                since = read_sync_token(
                    query.sync_token,
                    calendar_id=calendar.id,
                    epoch=self._sync_epoch,
                    now=self._clock(),
                    max_age=max_age,
                ).change
            position = PagePosition(after=None, snapshot=self._change, since=since)
        items, last = page_of(calendar.events.values(), query, position)
        updated = max((e.updated for e in calendar.events.values()), default=self._now())
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{position.snapshot:015d}"',
            "summary": calendar.account,
            "description": "",
            "updated": rfc3339(updated),
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
            "defaultReminders": DEFAULT_REMINDERS,
            "items": [event.resource() for event in items],
        }
        if last is not None:
            following = PagePosition(last, position.snapshot, position.since)
            answer["nextPageToken"] = page_token(following, query)
        else:
            point = SyncPoint(calendar.id, position.snapshot, self._sync_epoch, self._clock())
            answer["nextSyncToken"] = sync_token(point)
        return answer

    def insert(self, calendar: Calendar, body: object) -> EventRecord:
        """events.insert (or an event made on Google's side); a series with its instances."""
        record = new_event(
            body,
            calendar_id=calendar.id,
            organizer=calendar.account,
            now=self._now(),
            change=self._change + 1,
            default_zone=calendar.time_zone,
        )
        if record.id in self._events:
            raise GoogleApiError(409, "duplicate", "The requested identifier already exists.")
        made = instances(record, calendar.time_zone) if record.recurrence is not None else []
        self._change += 1
        calendar.events[record.id] = self._events[record.id] = record
        for instance in made:
            self._change += 1
            instance.change = self._change
            calendar.events[instance.id] = self._events[instance.id] = instance
        self._on_change(calendar.id)
        return record

    def _instances(self, calendar: Calendar, series: EventRecord) -> list[EventRecord]:
        return [e for e in calendar.events.values() if e.recurring_event_id == series.id]

    def instance_ids(self, calendar: Calendar, series: EventRecord) -> list[str]:
        """The IDs of a series' instances."""
        return [e.id for e in self._instances(calendar, series)]

    def _touched(self, record: EventRecord) -> None:
        self._change += 1
        record.change = self._change
        record.updated = self._now()

    def patch(self, calendar: Calendar, record: EventRecord, body: object) -> None:
        """events.patch (or an edit on Google's side). A patched instance is an exception from
        then on; a patched series carries the change to the instances that follow it."""
        before = record.start_at
        apply_patch(
            record,
            body,
            now=self._now(),
            change=self._change + 1,
            default_zone=calendar.time_zone,
        )
        self._change += 1
        self._on_change(calendar.id)
        if record.recurring_event_id is not None:
            record.exception = True
        if record.recurrence is None:
            return
        for instance in self._instances(calendar, record):
            if not instance.exception and instance.status != "cancelled":
                follow(instance, record, record.start_at - before, calendar.time_zone)
                self._touched(instance)

    def cancel(self, record: EventRecord) -> None:
        """events.delete: the event stays, cancelled, so incremental sync reports it (a series'
        instances with it; an instance alone)."""
        record.status = "cancelled"
        record.exception = record.recurring_event_id is not None
        self._touched(record)
        self._on_change(record.calendar_id)
        if record.recurrence is None:
            return
        for instance in self._instances(self._calendars[record.calendar_id], record):
            if instance.status != "cancelled":
                instance.status = "cancelled"
                self._touched(instance)

    def touch(self, record: EventRecord) -> None:
        """An edit on Google's side that changes nothing shown: a new etag and `updated`."""
        self._touched(record)
        self._on_change(record.calendar_id)

    def seed(
        self, account: str, bodies: list[dict[str, Any]], count: int, start: datetime | None
    ) -> list[str]:
        """Events made in Google Calendar: `bodies`, then `count` more an hour apart from
        `start` (default: the next full hour); their IDs."""
        calendar = self.calendar(account)
        ids = [self.insert(calendar, body).id for body in bodies]
        now = self._now()
        first = start or now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        for index in range(count):
            begins = first + timedelta(hours=index)
            ends = begins + timedelta(minutes=50)
            self._change += 1
            record = EventRecord(
                id=f"sandbox{self._change:08d}{index:06d}",
                calendar_id=calendar.id,
                organizer=calendar.account,
                created=now,
                updated=now,
                change=self._change,
                start={"dateTime": begins.isoformat(), "timeZone": "UTC"},
                end={"dateTime": ends.isoformat(), "timeZone": "UTC"},
                start_at=begins,
                end_at=ends,
                summary=f"Sandbox event {index + 1}",
            )
            calendar.events[record.id] = self._events[record.id] = record
            ids.append(record.id)
        if count:
            self._on_change(calendar.id)
        return ids

    def expire_sync_tokens(self) -> None:
        """Make every sync token issued so far answer 410."""
        self._sync_epoch += 1

    def accounts(self) -> list[str]:
        """Accounts that have a calendar."""
        return list(self._calendars)

    def event_counts(self, account: str) -> dict[str, Any]:
        """An account's calendar ID and how many of its events are live and cancelled."""
        calendar = self.calendar(account)
        single = [e for e in calendar.events.values() if e.recurrence is None]  # not masters
        cancelled = sum(1 for e in single if e.status == "cancelled")
        return {
            "calendar_id": calendar.id,
            "events": len(single) - cancelled,
            "cancelled_events": cancelled,
        }
