"""Microsoft Graph's calendar JSON in our terms, and the HTTP session every call to Microsoft uses.

The session trusts only MICROSOFT_CA_BUNDLE when one is set, and then ignores the environment's
REQUESTS_CA_BUNDLE (which would otherwise win over `verify`). Its retries are urllib3's and
honour Graph's Retry-After: a throttled request (429) is sent again after the wait Microsoft asks
for, as is a read that met 503/504; a write is not resent after a 5xx, since Graph may have
acted on it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from proirp.integrations.calendar import EventChange, EventInput, ProviderEvent

_FRACTION = re.compile(r"(\.\d{1,6})\d*")
# The longest Retry-After slept inside one call; a longer wait goes back to the caller (a sync
# then runs again after it; a staff member's request answers 503 with the wait).
MAX_WAIT_SECONDS = 10.0


class GraphRetry(Retry):
    """urllib3's Retry, for throttling only: reads on 429/503/504, writes (POST, PATCH, DELETE)
    on 429 alone, which Graph answers before acting; never a wait longer than MAX_WAIT_SECONDS."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() != "GET" and status_code != 429:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, *args: Any, **kwargs: Any) -> GraphRetry:
        response = kwargs.get("response")
        if response is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > MAX_WAIT_SECONDS:
                # Hand the answer (and its Retry-After) back rather than sleeping on it.
                raise MaxRetryError(kwargs.get("_pool"), kwargs.get("url") or "", None)  # type: ignore[arg-type]
        return super().increment(*args, **kwargs)


def retry_policy() -> GraphRetry:
    return GraphRetry(
        total=4,
        connect=2,  # the request never left: safe for writes too
        read=0,  # it may have been acted on
        other=0,
        status=3,
        status_forcelist=(429, 503, 504),
        allowed_methods=frozenset({"GET", "POST", "PATCH", "DELETE"}),
        backoff_factor=0.5,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def http_session(ca_bundle: Path | None, *, retries: bool) -> requests.Session:
    """A session for msal (retries=False: msal has its own) or for Graph."""
    session = requests.Session()
    if ca_bundle is not None:
        session.verify = str(ca_bundle)
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    if retries:
        adapter = HTTPAdapter(max_retries=retry_policy(), pool_maxsize=16)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session


def _seconds_and_micro(text: str) -> str:
    """Graph writes seven fractional digits; Python reads at most six."""
    return _FRACTION.sub(r"\1", text)


def _moment(part: dict[str, Any] | None) -> datetime | None:
    """Graph's dateTimeTimeZone (the zone apart) as an aware UTC time."""
    if not part or not part.get("dateTime"):
        return None
    parsed = datetime.fromisoformat(_seconds_and_micro(str(part["dateTime"])))
    if parsed.tzinfo is None:
        try:
            zone = ZoneInfo(str(part.get("timeZone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")  # we ask for UTC; a Windows zone name would land here
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant such as lastModifiedDateTime ("…T10:00:00.1234567Z")."""
    if not value:
        return None
    text = value.removesuffix("Z")
    parsed = datetime.fromisoformat(_seconds_and_micro(text))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_event(item: dict[str, Any]) -> ProviderEvent:
    """A Graph event (or a delta's `@removed` entry) as ours."""
    if "@removed" in item or item.get("isCancelled"):
        return ProviderEvent(id=str(item["id"]), status="cancelled")
    body = item.get("body") or {}
    location = item.get("location") or {}
    return ProviderEvent(
        id=str(item["id"]),
        status="tentative" if item.get("showAs") == "tentative" else "confirmed",
        title=item.get("subject"),
        # Asked for as text; should HTML come anyway, Graph's plain-text preview stands in.
        description=(
            body.get("content") if body.get("contentType") == "text" else item.get("bodyPreview")
        )
        or None,
        location=location.get("displayName") or None,
        start_at=_moment(item.get("start")),
        end_at=_moment(item.get("end")),
        all_day=bool(item.get("isAllDay")),
        etag=item.get("@odata.etag") or item.get("changeKey"),
        updated_at=_instant(item.get("lastModifiedDateTime")),
        calendar_id="primary",
        series_id=item.get("seriesMasterId"),
        original_start_at=_instant(item.get("originalStart")),
    )


def _wall(moment: datetime, time_zone: str) -> dict[str, str]:
    """A time as Graph's dateTimeTimeZone: the wall-clock time in `time_zone` (IANA)."""
    local = moment.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": time_zone}


def to_graph(event: EventInput) -> dict[str, Any]:
    """Our new event as Graph's JSON: wall-clock times in the event's own IANA zone."""
    body: dict[str, Any] = {
        "subject": event.title,
        "start": _wall(event.start_at, event.time_zone),
        "end": _wall(event.end_at, event.time_zone),
    }
    if event.description:
        body["body"] = {"contentType": "text", "content": event.description}
    if event.location:
        body["location"] = {"displayName": event.location}
    return body


def change_to_graph(change: EventChange) -> dict[str, Any]:
    """A PATCH body with only what changes ("" clears a text); times as to_graph writes them,
    in the change's zone (UTC when it names none)."""
    body: dict[str, Any] = {}
    if change.title is not None:
        body["subject"] = change.title
    if change.description is not None:
        body["body"] = {"contentType": "text", "content": change.description}
    if change.location is not None:
        body["location"] = {"displayName": change.location}
    zone = change.time_zone or "UTC"
    if change.start_at is not None:
        body["start"] = _wall(change.start_at, zone)
    if change.end_at is not None:
        body["end"] = _wall(change.end_at, zone)
    return body
