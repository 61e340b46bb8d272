"""Every account's mailbox (its default calendar) and the change numbers delta tokens name.

Every change to any event (create, update, delete) takes the next change number; each mailbox
keeps its events' current change numbers sorted, so a delta page walks only what changed after
its position. Deleted events stay as tombstones so a later delta round can report them. Not
thread-safe on its own: MicrosoftSandbox calls it under its state lock.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proirp.sandbox.microsoft.errors import bad_request, not_found
from proirp.sandbox.microsoft.event_bodies import apply_body, check_body, new_event
from proirp.sandbox.microsoft.events import EventRecord, new_event_id
from proirp.sandbox.microsoft.recurrence import follow, occurrences


@dataclass
class Mailbox:
    """One account's calendar: events by ID and by current change number."""

    account: str
    organizer_name: str
    events: dict[str, EventRecord] = field(default_factory=dict)
    changes: list[int] = field(default_factory=list)  # sorted current change numbers
    by_change: dict[int, EventRecord] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)  # transactionId -> event ID

    def live(self) -> Iterator[EventRecord]:
        return (event for event in self.events.values() if not event.deleted)

    def instances(self) -> Iterator[EventRecord]:
        """Live events as calendarView shows them: single events and occurrences, no masters."""
        return (event for event in self.live() if event.kind != "seriesMaster")

    def series(self, master: EventRecord) -> list[EventRecord]:
        """A series' occurrences (and exceptions), live or deleted."""
        return [e for e in self.events.values() if e.series_master_id == master.id]

    def changed_after(self, after: int, upto: int) -> Iterator[EventRecord]:
        """Events whose current change number is in (after, upto], in change order."""
        index = bisect.bisect_right(self.changes, after)
        while index < len(self.changes) and self.changes[index] <= upto:
            yield self.by_change[self.changes[index]]
            index += 1


class MailboxStore:
    """Mailboxes by account, events by ID, the change counter and the delta-token epoch."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        epoch: int = 0,
        on_change: Callable[[str, EventRecord, str], None] | None = None,
    ) -> None:
        self._clock = clock
        # (account, event, created|updated|deleted): push (subscriptions.py)
        self._on_change = on_change or (lambda _account, _record, _kind: None)
        self._mailboxes: dict[str, Mailbox] = {}
        self._events: dict[str, EventRecord] = {}
        self.change = 0
        self.epoch = epoch  # bumped by expire_delta_tokens(); older tokens get 410

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def mailbox(self, account: str, organizer_name: str | None = None) -> Mailbox:
        """An account's mailbox (made on first use, as every work account has one)."""
        key = account.lower()
        mailbox = self._mailboxes.get(key)
        if mailbox is None:
            mailbox = self._mailboxes[key] = Mailbox(key, organizer_name or key)
        return mailbox

    def accounts(self) -> list[str]:
        return list(self._mailboxes)

    def event(self, mailbox: Mailbox, event_id: str) -> EventRecord:
        """A live event of the mailbox; Graph's 404 otherwise."""
        record = mailbox.events.get(event_id)
        if record is None or record.deleted:
            raise not_found()
        return record

    def find(self, event_id: str) -> tuple[Mailbox, EventRecord] | None:
        """A live event in any mailbox, for changes made on Microsoft's side."""
        record = self._events.get(event_id)
        if record is None or record.deleted:
            return None
        return self._mailboxes[record.account], record

    def _touch(self, mailbox: Mailbox, record: EventRecord, *, new: bool = False) -> None:
        """Give the event the next change number and remember where it stood."""
        if not new:
            index = bisect.bisect_left(mailbox.changes, record.change)
            del mailbox.changes[index]
            del mailbox.by_change[record.change]
        self.change += 1
        record.change = self.change
        record.modified = self._now()
        if new:
            record.created = record.modified
        mailbox.changes.append(record.change)
        mailbox.by_change[record.change] = record
        record.history.append((record.change, record.start_at, record.end_at, not record.deleted))
        kind = "created" if new else "deleted" if record.deleted else "updated"
        self._on_change(mailbox.account, record, kind)

    def create(self, mailbox: Mailbox, body: object) -> tuple[EventRecord, bool]:
        """POST /me/events; (the event, whether it is new). A transactionId seen before answers
        the event it made, so a retried create does not make a second one."""
        record = new_event(
            body,
            account=mailbox.account,
            organizer_name=mailbox.organizer_name,
            now=self._now(),
            change=0,  # numbered by _touch once accepted
        )
        if record.transaction_id is not None:
            earlier = mailbox.transactions.get(record.transaction_id)
            if earlier is not None and not mailbox.events[earlier].deleted:
                return mailbox.events[earlier], False
            mailbox.transactions[record.transaction_id] = record.id
        mailbox.events[record.id] = self._events[record.id] = record
        self._touch(mailbox, record, new=True)
        if record.recurrence is not None:
            for occurrence in occurrences(record):
                mailbox.events[occurrence.id] = self._events[occurrence.id] = occurrence
                self._touch(mailbox, occurrence, new=True)
        return record, True

    def update(self, mailbox: Mailbox, record: EventRecord, body: object) -> None:
        """PATCH /me/events/{id} (or an edit on Microsoft's side). An updated occurrence is an
        exception from then on; an updated master carries the change to the occurrences that
        still follow it."""
        checked = check_body(body)
        if checked.get("recurrence") is not None:
            raise bad_request("The sandbox does not change a series' recurrence once made.")
        apply_body(record, checked)
        self._touch(mailbox, record)
        if record.kind == "occurrence":
            record.kind = "exception"
        if record.kind != "seriesMaster":
            return
        series = mailbox.series(record)
        first = min((e.original_start for e in series if e.original_start), default=None)
        for occurrence in series:
            if occurrence.kind == "occurrence" and not occurrence.deleted and first:
                follow(occurrence, record, first)
                self._touch(mailbox, occurrence)

    def delete(self, mailbox: Mailbox, record: EventRecord) -> None:
        """DELETE /me/events/{id}: the event goes (a master with its occurrences), a tombstone
        stays for delta."""
        record.deleted = True
        self._touch(mailbox, record)
        if record.kind == "seriesMaster":
            for occurrence in mailbox.series(record):
                if not occurrence.deleted:
                    occurrence.deleted = True
                    self._touch(mailbox, occurrence)

    def touch(self, mailbox: Mailbox, record: EventRecord) -> None:
        """An edit on Microsoft's side that changes nothing shown: a new changeKey and etag."""
        self._touch(mailbox, record)

    def seed(
        self, account: str, bodies: list[dict[str, Any]], count: int, start: datetime | None
    ) -> list[str]:
        """Events made in Outlook: `bodies`, then `count` more an hour apart from `start`
        (default: the next full hour); their IDs."""
        mailbox = self.mailbox(account)
        ids = [self.create(mailbox, body)[0].id for body in bodies]
        now = self._now()
        first = start or now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        for index in range(count):
            begins = first + timedelta(hours=index)
            record = EventRecord(
                id=new_event_id(),
                account=mailbox.account,
                organizer_name=mailbox.organizer_name,
                created=now,
                modified=now,
                change=0,
                start_at=begins.astimezone(UTC),
                end_at=(begins + timedelta(minutes=50)).astimezone(UTC),
                subject=f"Sandbox event {index + 1}",
            )
            mailbox.events[record.id] = self._events[record.id] = record
            self._touch(mailbox, record, new=True)
            ids.append(record.id)
        return ids

    def calendar_view(
        self, mailbox: Mailbox, start: datetime, end: datetime, skip: int, top: int
    ) -> tuple[list[EventRecord], bool]:
        """One page of /me/calendarView (by start, then ID) and whether more follow."""
        matching = sorted(
            (e for e in mailbox.instances() if e.overlaps(start, end)),
            key=lambda e: (e.start_at, e.id),
        )
        return matching[skip : skip + top], len(matching) > skip + top

    def expire_delta_tokens(self) -> None:
        """Make every delta and skip token issued so far answer 410."""
        self.epoch += 1

    def event_counts(self, account: str) -> dict[str, int]:
        mailbox = self.mailbox(account)
        shown = [e for e in mailbox.events.values() if e.kind != "seriesMaster"]
        deleted = sum(1 for e in shown if e.deleted)
        return {"events": len(shown) - deleted, "deleted_events": deleted}
