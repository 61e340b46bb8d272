"""events.list: the query, its pages and its sync tokens.

With singleEvents a series is listed as its instances, without it as its master (recurrence.py).
A full listing pages over the events that match at the time of each page and ends with a
`nextSyncToken` naming the change number the FIRST page saw, so changes made while a client is
still paging reach its next incremental sync. An incremental listing (`syncToken`) returns every
event changed after the token's change number, cancelled ones included. Tokens are opaque to
clients and carry what the sandbox needs to check them; they are refused with 410 when older than
the `sync_token_max_age_seconds` knob or issued before the last /_sandbox/expire-sync-tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from proirp.sandbox.google.errors import GoogleApiError, full_sync_required, invalid
from proirp.sandbox.google.events import EventRecord, parse_rfc3339

DEFAULT_MAX_RESULTS = 250
MAX_RESULTS = 2500
# events.list parameters the sandbox honours (all are parameters of Google's events.list).
LIST_PARAMETERS = frozenset(
    {
        "maxResults",
        "orderBy",
        "pageToken",
        "showDeleted",
        "singleEvents",
        "syncToken",
        "timeMax",
        "timeMin",
        "timeZone",
        "updatedMin",
    }
)
# Restrictions Google refuses alongside syncToken.
NOT_WITH_SYNC_TOKEN = ("timeMin", "timeMax", "updatedMin", "orderBy", "q", "iCalUID")
ORDERING_MESSAGE = "The requested ordering is not available for the particular query."


@dataclass(frozen=True)
class ListQuery:
    """A checked events.list query."""

    max_results: int
    order_by: str | None
    page_token: str | None
    show_deleted: bool
    single_events: bool
    sync_token: str | None
    time_min: datetime | None
    time_max: datetime | None
    updated_min: datetime | None
    fingerprint: str  # what a page token must have been issued for


def _flag(value: str | None) -> bool:
    if value is None:
        return False
    if value not in ("true", "false"):
        raise invalid()
    return value == "true"


def _moment(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    moment = parse_rfc3339(value)
    if moment is None:
        raise invalid(location=name)
    return moment


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Check events.list's query parameters as Google does."""
    if params.get("syncToken") is not None:
        for name in NOT_WITH_SYNC_TOKEN:
            if params.get(name) is not None:
                raise invalid(f"Sync token cannot be used with the {name} parameter.")
    raw_max = params.get("maxResults")
    max_results = DEFAULT_MAX_RESULTS
    if raw_max is not None:
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= MAX_RESULTS:
            raise invalid(location="maxResults")
        max_results = int(raw_max)
    order_by = params.get("orderBy")
    if order_by not in (None, "startTime", "updated"):
        raise invalid(location="orderBy")
    single_events = _flag(params.get("singleEvents"))
    if order_by == "startTime" and not single_events:
        raise invalid(ORDERING_MESSAGE)
    time_min, time_max = _moment(params, "timeMin"), _moment(params, "timeMax")
    if time_min is not None and time_max is not None and time_max <= time_min:
        raise GoogleApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    excluded = {"pageToken", "maxResults", "syncToken"}
    shape = {n: params.get(n) for n in sorted(LIST_PARAMETERS - excluded)}
    fingerprint = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
    return ListQuery(
        max_results=max_results,
        order_by=order_by,
        page_token=params.get("pageToken"),
        show_deleted=_flag(params.get("showDeleted")),
        single_events=single_events,
        sync_token=params.get("syncToken"),
        time_min=time_min,
        time_max=time_max,
        updated_min=_moment(params, "updatedMin"),
        fingerprint=fingerprint,
    )


def _encode(payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, object] | None:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass(frozen=True)
class SyncPoint:
    """Where a sync token says the client's copy of a calendar stands."""

    calendar_id: str
    change: int
    epoch: int
    issued_at: float


def sync_token(point: SyncPoint) -> str:
    """The opaque nextSyncToken for a point."""
    return _encode(
        {"c": point.calendar_id, "n": point.change, "e": point.epoch, "t": point.issued_at}
    )


def read_sync_token(
    token: str, *, calendar_id: str, epoch: int, now: float, max_age: float | None
) -> SyncPoint:
    """The point a syncToken names; 410 when it is stale, 400 when it is not a sync token."""
    payload = _decode(token)
    try:
        assert payload is not None
        point = SyncPoint(
            str(payload["c"]),
            int(str(payload["n"])),
            int(str(payload["e"])),
            float(str(payload["t"])),
        )
    except (AssertionError, KeyError, ValueError):
        raise invalid("Invalid sync token value.", location="syncToken") from None
    too_old = max_age is not None and now - point.issued_at > max_age
    if point.calendar_id != calendar_id or point.epoch != epoch or too_old:
        raise full_sync_required()
    return point


def _matches(event: EventRecord, query: ListQuery) -> bool:
    if event.status == "cancelled" and not query.show_deleted:
        return False
    if query.time_min is not None and event.end_at <= query.time_min:
        return False
    if query.time_max is not None and event.start_at >= query.time_max:
        return False
    return query.updated_min is None or event.updated >= query.updated_min


def shown(event: EventRecord, query: ListQuery) -> bool:
    """Whether a listing shows the event at all: with singleEvents, a series as its instances
    (never the master); without, the master and only the instances changed on their own."""
    if query.single_events:
        return event.recurrence is None
    return event.recurring_event_id is None or event.exception


SortKey = tuple[float, str]


def sort_key(event: EventRecord, query: ListQuery, *, incremental: bool) -> SortKey:
    """Where an event sits in a listing (incremental: by change; else by start or update)."""
    if incremental:
        return (float(event.change), "")
    if query.order_by == "updated":
        return (event.updated.timestamp(), event.id)
    return (event.start_at.timestamp(), event.id)


@dataclass(frozen=True)
class PagePosition:
    """Where the next page starts: after `after` (a sort key), in a listing that covers changes
    up to `snapshot` (and, when incremental, from `since`)."""

    after: SortKey | None
    snapshot: int
    since: int | None


def page_of(
    events: Iterable[EventRecord], query: ListQuery, position: PagePosition
) -> tuple[list[EventRecord], SortKey | None]:
    """One page of a listing, and the sort key the next page starts after (None: last page).

    Pages are keyed, not counted, and only events as they stood at `snapshot` are listed: an
    event changed while a client pages drops out here and reaches the client's next sync, so
    nothing is skipped or seen twice.
    """
    incremental = position.since is not None
    keyed: list[tuple[SortKey, EventRecord]] = []
    for event in events:
        if event.change > position.snapshot or not shown(event, query):
            continue
        if incremental:
            assert position.since is not None
            if event.change <= position.since:
                continue
        elif not _matches(event, query):
            continue
        key = sort_key(event, query, incremental=incremental)
        if position.after is None or key > position.after:
            keyed.append((key, event))
    keyed.sort(key=lambda pair: pair[0])
    page = keyed[: query.max_results]
    more = len(keyed) > query.max_results
    return [event for _, event in page], page[-1][0] if more else None


def page_token(position: PagePosition, query: ListQuery) -> str:
    """The opaque nextPageToken for a position."""
    after = list(position.after) if position.after is not None else None
    return _encode(
        {"a": after, "s": position.snapshot, "i": position.since, "q": query.fingerprint}
    )


def read_page_token(token: str, query: ListQuery) -> PagePosition:
    """Where a pageToken continues; 400 when it is not one of this query's page tokens."""
    payload = _decode(token)
    try:
        assert payload is not None and payload["q"] == query.fingerprint
        after = payload["a"]
        assert isinstance(after, list) and len(after) == 2
        since = payload["i"]
        return PagePosition(
            after=(float(after[0]), str(after[1])),
            snapshot=int(str(payload["s"])),
            since=None if since is None else int(str(since)),
        )
    except (AssertionError, KeyError, ValueError, TypeError):
        raise invalid("Invalid page token value.", location="pageToken") from None
