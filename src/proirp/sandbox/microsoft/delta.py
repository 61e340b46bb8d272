"""/me/calendarView/delta: rounds, pages and the state tokens that chain them.

A round is one or more pages. Its first page fixes a snapshot (the change counter at that
moment); pages list, in change order, the events changed up to the snapshot, so an event changed
while a client is still paging is left for the next round instead of being seen twice or missed.
The last page carries a `@odata.deltaLink` whose token names the snapshot; calling it starts a
round of what changed after it: events created or moved into the window in full, events deleted
or moved out of it as `@removed`. A series is listed as its occurrences, never its master.

Tokens are opaque to clients and carry the window (as Graph's do), signed so a garbled one is
told apart. They answer 410 (SyncStateNotFound) once expired through the control route, when
older than the `delta_token_max_age_seconds` knob, or when not the sandbox's at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from proirp.sandbox.microsoft.errors import sync_state_not_found
from proirp.sandbox.microsoft.events import EventRecord
from proirp.sandbox.microsoft.mailbox import Mailbox

MAX_PAGE_SIZE = 1000  # a larger odata.maxpagesize is applied as this


@dataclass(frozen=True)
class DeltaPosition:
    """Where a round stands: its window, the change it started after (None for the first,
    full round), its snapshot, the change number the next page starts after."""

    account: str
    start: float
    end: float
    since: int | None
    snapshot: int
    after: int
    epoch: int
    issued_at: float
    page_size: int | None

    @property
    def window(self) -> tuple[datetime, datetime]:
        return datetime.fromtimestamp(self.start, UTC), datetime.fromtimestamp(self.end, UTC)


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()[:18]).decode()


def encode_token(position: DeltaPosition, key: bytes) -> str:
    """A skip or delta token for a position (opaque, URL-safe)."""
    payload = json.dumps(asdict(position), separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(key, payload)}"


def decode_token(
    token: str, key: bytes, *, account: str, epoch: int, now: float, max_age: float | None
) -> DeltaPosition:
    """The position a token names; 410 when it is garbled, another mailbox's, or stale."""
    body, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not hmac.compare_digest(_sign(key, payload), signature):
            raise ValueError("signature")
        position = DeltaPosition(**json.loads(payload))
    except (binascii.Error, ValueError, TypeError):
        raise sync_state_not_found("The sync state is not found or is not valid.") from None
    if position.account != account:
        raise sync_state_not_found("The sync state is not found or is not valid.")
    too_old = max_age is not None and now - position.issued_at > max_age
    if position.epoch != epoch or too_old:
        raise sync_state_not_found(
            f"The sync state generation is not found; generation={position.epoch};"
            f"[highest={epoch}][{epoch}]."
        )
    return position


Entry = dict[str, Any]


def removed(record: EventRecord) -> Entry:
    """How delta reports an event gone from the window (deleted, or moved out of it)."""
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": record.id,
        "@removed": {"reason": "deleted"},
    }


def delta_page(
    mailbox: Mailbox, position: DeltaPosition, size: int
) -> tuple[list[tuple[EventRecord, bool]], DeltaPosition | None]:
    """One page: (event, still in the window) pairs, and where the next page starts (None when
    this is the round's last page)."""
    start, end = position.window
    after = position.after if position.since is None else max(position.after, position.since)
    page: list[tuple[EventRecord, bool]] = []
    last = after
    for record in mailbox.changed_after(after, position.snapshot):
        if record.kind == "seriesMaster":
            continue  # a series shows as its occurrences, as in calendarView
        inside = record.overlaps(start, end)
        if position.since is None:
            listed = inside
        else:
            listed = inside or record.was_within(position.since, start, end)
        if not listed:
            continue
        if len(page) == size:
            # One more to report: this page is full and another follows.
            return page, replace(position, after=last)
        page.append((record, inside))
        last = record.change
    return page, None
