"""ListMessage: Twilio's filters (To, From, DateSent, DateSent<, DateSent>) and page shape."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from proirp.sandbox.twilio.errors import TwilioApiError
from proirp.sandbox.twilio.messages import API_VERSION, MessageRecord

LIST_PARAMETERS = (
    "To",
    "From",
    "DateSent",
    "DateSent<",
    "DateSent>",
    "PageSize",
    "Page",
    "PageToken",
)
FILTER_PARAMETERS = LIST_PARAMETERS[:5]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ListQuery:
    """A validated ListMessage query."""

    filters: dict[str, str]  # the filter parameters as given, for the page URIs
    to: str | None
    from_: str | None
    sent_on: date | datetime | None
    sent_before: date | datetime | None
    sent_after: date | datetime | None
    page: int
    page_size: int
    page_token: str | None


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Read ListMessage's query parameters; 20001 for unknown names or unreadable values."""
    for name in query:
        if name not in LIST_PARAMETERS:
            raise TwilioApiError(20001, name=name)
    page_size = _integer(query, "PageSize", DEFAULT_PAGE_SIZE, minimum=1)
    return ListQuery(
        filters={name: query[name] for name in FILTER_PARAMETERS if name in query},
        to=query.get("To") or None,
        from_=query.get("From") or None,
        sent_on=_moment(query, "DateSent"),
        sent_before=_moment(query, "DateSent<"),
        sent_after=_moment(query, "DateSent>"),
        page=_integer(query, "Page", 0, minimum=0),
        page_size=min(page_size, MAX_PAGE_SIZE),
        page_token=query.get("PageToken") or None,
    )


def _integer(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(20001, name=name) from None
    if value < minimum:
        raise TwilioApiError(20001, name=name)
    return value


def _moment(query: Mapping[str, str], name: str) -> date | datetime | None:
    """A DateSent value: YYYY-MM-DD (a whole GMT day), ISO 8601 or RFC 2822 (an instant)."""
    raw = query.get(name)
    if not raw:
        return None
    if _DATE_ONLY.match(raw):
        return date.fromisoformat(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise TwilioApiError(20001, name=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _compare(sent: datetime, value: date | datetime) -> int:
    """-1, 0 or 1 as `sent` is before, on/at, or after `value` (a whole day or an instant)."""
    key: date = sent if isinstance(value, datetime) else sent.date()
    return (key > value) - (key < value)


def _sent_matches(record: MessageRecord, query: ListQuery) -> bool:
    if query.sent_on is None and query.sent_before is None and query.sent_after is None:
        return True
    if record.date_sent is None:
        return False
    sent = record.date_sent.replace(microsecond=0)  # Twilio's dates have whole seconds
    if query.sent_on is not None:
        day = query.sent_on.date() if isinstance(query.sent_on, datetime) else query.sent_on
        if _compare(sent, day) != 0:
            return False
    if query.sent_before is not None and _compare(sent, query.sent_before) > 0:
        return False
    return query.sent_after is None or _compare(sent, query.sent_after) >= 0


def matches(record: MessageRecord, query: ListQuery) -> bool:
    """Whether a message passes the query's filters."""
    if query.to is not None and record.to != query.to:
        return False
    if query.from_ is not None and record.from_ != query.from_:
        return False
    return _sent_matches(record, query)


def build_page(
    records_newest_first: list[MessageRecord], query: ListQuery, *, account_sid: str
) -> dict[str, Any]:
    """One page in Twilio's shape, with Twilio-relative page URIs.

    PageToken "PA<sid>" continues after that message, "PB<sid>" ends before it, so pages stay
    stable while new messages arrive at the head of the list.
    """
    selected = [record for record in records_newest_first if matches(record, query)]
    sids = [record.sid for record in selected]
    size = query.page_size
    start_index = query.page * size
    token = query.page_token
    if token and token[2:] in sids:
        anchor = sids.index(token[2:])
        if token.startswith("PA"):
            start_index = anchor + 1
        elif token.startswith("PB"):
            start_index = max(0, anchor - size)
    items = selected[start_index : start_index + size]
    path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"

    def page_uri(page: int, page_token: str | None) -> str:
        params: dict[str, str | int] = dict(query.filters)
        params.update(PageSize=size, Page=page)
        if page_token:
            params["PageToken"] = page_token
        return f"{path}?{urlencode(params)}"

    has_next = start_index + size < len(selected)
    has_previous = query.page > 0 and start_index > 0
    first = query.page * size
    return {
        "end": first + len(items) - 1 if items else first,
        "first_page_uri": page_uri(0, None),
        "messages": [record.resource() for record in items],
        "next_page_uri": page_uri(query.page + 1, f"PA{items[-1].sid}") if has_next else None,
        "page": query.page,
        "page_size": size,
        "previous_page_uri": (
            page_uri(query.page - 1, f"PB{items[0].sid}") if has_previous and items else None
        ),
        "start": first,
        "uri": page_uri(query.page, token),
    }
