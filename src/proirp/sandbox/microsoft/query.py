"""Reading what a request says beyond its path: absolute base URLs (right wherever the sandbox is
mounted), Graph's `Prefer` header, and calendarView's query parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from fastapi import Request

from proirp.sandbox.microsoft.errors import bad_request
from proirp.sandbox.microsoft.zones import parse_window, zone_named

WINDOW_REQUIRED = (
    "This request requires a time window specified by the query string parameters "
    "StartDateTime and EndDateTime."
)
DEFAULT_TOP = 10
MAX_TOP = 1000
_PREFERENCE = re.compile(r'\s*([A-Za-z0-9._-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,;]*))?')


def base_of(request: Request, segments: int) -> str:
    """The request's absolute URL without its query and its last `segments` path segments: the
    base of the router that answered, however the sandbox is mounted."""
    url = request.url.replace(query="", fragment="")
    path = url.path.rstrip("/")
    for _ in range(segments):
        path = path.rsplit("/", 1)[0]
    return str(url.replace(path=path))


def preferences(request: Request) -> dict[str, str]:
    """Every `Prefer` header's preferences by lower-case name (quotes removed)."""
    found: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in _split(header):
            match = _PREFERENCE.match(part)
            if match is None:
                continue
            value = (match.group(2) or "").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found.setdefault(match.group(1).lower(), value)
    return found


def _split(header: str) -> list[str]:
    """Split a header on the commas outside quoted strings."""
    parts, current, quoted = [], "", False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


@dataclass(frozen=True)
class View:
    """How Graph should show events to this request: where its links point, and in what zone."""

    base: str  # …/graph/v1.0
    zone: tzinfo
    zone_name: str
    applied: tuple[str, ...]  # for Preference-Applied


def view_of(request: Request, base: str) -> View:
    """The view a request asks for with `Prefer: outlook.timezone="…"` (default UTC)."""
    wanted = preferences(request).get("outlook.timezone")
    zone = zone_named(wanted) if wanted else None
    if wanted and zone is not None:
        return View(base, zone, wanted, (f'outlook.timezone="{wanted}"',))
    return View(base, UTC, "UTC", ())


def param(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter, its name matched case-insensitively (Graph's are)."""
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def window(params: Mapping[str, str]) -> tuple[datetime, datetime]:
    """startDateTime and endDateTime; Graph's 400 when either is missing or unreadable."""
    start_text, end_text = param(params, "startDateTime"), param(params, "endDateTime")
    if not start_text or not end_text:
        raise bad_request(WINDOW_REQUIRED, code="ErrorInvalidParameter")
    start, end = parse_window(start_text), parse_window(end_text)
    if start is None or end is None:
        name = "StartDateTime" if start is None else "EndDateTime"
        raise bad_request(
            f"The value of the parameter '{name}' is invalid.", "ErrorInvalidParameter"
        )
    return start, end


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """calendarView's ($skip, $top), $top 10 by default and at most 1000."""
    top_text, skip_text = param(params, "$top"), param(params, "$skip")
    top, skip = DEFAULT_TOP, 0
    if top_text is not None:
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_TOP:
            raise bad_request(
                f"The value of the query parameter '$top' must be between 1 and {MAX_TOP}.",
                "ErrorInvalidParameter",
            )
        top = int(top_text)
    if skip_text is not None:
        if not skip_text.isdigit():
            raise bad_request("The value of the query parameter '$skip' is invalid.", "BadRequest")
        skip = int(skip_text)
    return skip, top
