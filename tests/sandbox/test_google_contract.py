"""Contract: the Google sandbox against the Calendar API's own discovery document (the one the
official client ships and builds itself from), and driven through that client.

A hand-written check of what we rely on (paths and methods, events.list parameters, property
names and types of Event, Events and CalendarList) is enough; a JSON-schema engine would add a
dependency for no extra catch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
from fastapi.routing import APIRoute
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from proirp.sandbox.app import Sandbox, SandboxConfig
from proirp.sandbox.google.api import CALENDAR_PREFIX, api_router
from proirp.sandbox.google.listing import LIST_PARAMETERS
from tests.sandbox.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLINICIAN,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    RunningGoogle,
)

DISCOVERY_PATH = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
)
DISCOVERY: dict[str, Any] = json.loads(DISCOVERY_PATH.read_text())
SCHEMAS: dict[str, Any] = DISCOVERY["schemas"]
# The methods the sandbox implements: resource -> method names.
IMPLEMENTED = {"calendarList": ["list"], "events": ["list", "get", "insert", "patch", "delete"]}
PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def check(schema: dict[str, Any], value: object, path: str) -> None:
    """Fail unless `value` uses only properties `schema` defines, each of the schema's type."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    kind = schema["type"]
    expected = PYTHON_TYPES[kind]
    assert isinstance(value, expected), f"{path} should be {kind}, is {type(value).__name__}"
    if kind == "integer":
        assert not isinstance(value, bool), path
    if kind == "array":
        assert isinstance(value, list)
        for index, item in enumerate(value):
            check(schema["items"], item, f"{path}[{index}]")
    if kind == "object":
        assert isinstance(value, dict)
        properties: dict[str, Any] = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                check(properties[key], item, f"{path}.{key}")
            else:
                assert additional is not None, f"{path}.{key} is not in the discovery document"
                check(additional, item, f"{path}.{key}")


def method(resource: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = DISCOVERY["resources"][resource]["methods"][name]
    return found


def test_routes_sit_at_the_discovery_documents_paths() -> None:
    config = SandboxConfig(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN)
    routes = {
        (route.path, verb)
        for route in api_router(Sandbox(config).google).routes
        if isinstance(route, APIRoute)
        for verb in route.methods or ()
    }
    assert DISCOVERY["servicePath"] == CALENDAR_PREFIX.strip("/") + "/"
    for resource, names in IMPLEMENTED.items():
        for name in names:
            described = method(resource, name)
            path = f"{CALENDAR_PREFIX}/{described['path']}"
            assert (path, described["httpMethod"]) in routes, f"{resource}.{name}"


def test_supported_list_parameters_are_googles() -> None:
    described = set(method("events", "list")["parameters"])
    assert described >= LIST_PARAMETERS


@pytest.fixture
def token(google: RunningGoogle) -> str:
    access: str = google.connect()["access_token"]
    return access


def test_resources_use_only_described_properties(google: RunningGoogle, token: str) -> None:
    timed = google.api(
        "POST",
        "calendars/primary/events",
        token,
        json={
            "summary": "Session",
            "description": "Follow-up",
            "location": "Room 2",
            "start": {"dateTime": "2026-03-01T10:00:00-05:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-03-01T10:50:00-05:00", "timeZone": "America/New_York"},
        },
    ).json()
    all_day = google.api(
        "POST",
        "calendars/primary/events",
        token,
        json={"summary": "Away", "start": {"date": "2026-03-02"}, "end": {"date": "2026-03-03"}},
    ).json()
    listing = google.api("GET", "calendars/primary/events", token, params={"maxResults": "1"})
    first_page = listing.json()
    sync_start = google.api("GET", "calendars/primary/events", token).json()["nextSyncToken"]
    google.api("DELETE", f"calendars/primary/events/{all_day['id']}", token)
    changes = google.api(
        "GET", "calendars/primary/events", token, params={"syncToken": sync_start}
    ).json()
    calendars = google.api("GET", "users/me/calendarList", token).json()

    check({"$ref": "Event"}, timed, "event")
    check({"$ref": "Event"}, all_day, "all-day event")
    check({"$ref": "Events"}, first_page, "events page")
    check({"$ref": "Events"}, changes, "incremental events")
    assert changes["items"][0]["status"] == "cancelled"
    check({"$ref": "CalendarList"}, calendars, "calendarList")
    for name in ("kind", "id", "etag", "status", "htmlLink", "created", "updated", "iCalUID"):
        assert name in timed, name
    assert first_page["kind"] == "calendar#events" and "nextPageToken" in first_page
    assert calendars["items"][0]["primary"] is True


def test_errors_in_googles_shape(google: RunningGoogle, token: str) -> None:
    # Not in the discovery document, but what the client's HttpError parses.
    error = google.api("GET", "calendars/primary/events/nope0", token).json()["error"]
    assert set(error) >= {"code", "message", "errors"}
    assert set(error["errors"][0]) >= {"domain", "reason", "message"}


def service(google: RunningGoogle, credentials: Credentials) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": google.calendar_base + "/"},
    )


def test_the_official_client_against_the_sandbox(google: RunningGoogle) -> None:
    tokens = google.connect()
    credentials = Credentials(
        tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_uri=google.oauth_base + "/token",
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
    )
    calendar = service(google, credentials)
    events = calendar.events()
    entry = calendar.calendarList().list().execute()["items"][0]
    assert entry["id"] == CLINICIAN

    ids = google.control("POST", "events", json={"account": CLINICIAN, "count": 5}).json()["ids"]
    created = events.insert(
        calendarId="primary",
        body={
            "summary": "Intake",
            "start": {"dateTime": "2030-01-01T09:00:00Z"},
            "end": {"dateTime": "2030-01-01T10:00:00Z"},
        },
    ).execute()
    seen: list[str] = []
    request = events.list(calendarId=CLINICIAN, maxResults=2, singleEvents=True)
    sync_token = None
    while request is not None:
        page = request.execute()
        seen.extend(item["id"] for item in page["items"])
        sync_token = page.get("nextSyncToken", sync_token)
        request = events.list_next(request, page)
    assert set(seen) == {*ids, created["id"]} and len(seen) == 6
    assert sync_token is not None

    events.patch(calendarId="primary", eventId=created["id"], body={"summary": "Moved"}).execute()
    events.delete(calendarId="primary", eventId=ids[0]).execute()
    changes = events.list(calendarId="primary", syncToken=sync_token).execute()
    assert [(item["id"], item["status"]) for item in changes["items"]] == [
        (created["id"], "confirmed"),
        (ids[0], "cancelled"),
    ]
    assert events.get(calendarId="primary", eventId=created["id"]).execute()["summary"] == "Moved"

    google.control("POST", "expire-sync-tokens")
    with pytest.raises(HttpError) as gone:
        events.list(calendarId="primary", syncToken=changes["nextSyncToken"]).execute()
    assert gone.value.resp.status == 410
    assert gone.value.reason == "Sync token is no longer valid, a full sync is required."
    assert gone.value.error_details[0]["reason"] == "fullSyncRequired"

    # An expired access token: the client's transport refreshes once and retries.
    google.control("POST", "expire-access-tokens")
    assert events.list(calendarId="primary").execute()["kind"] == "calendar#events"
    assert google.state.stats()["token_refresh"] == 1
    assert credentials.refresh_token == tokens["refresh_token"]

    with pytest.raises(HttpError) as missing:
        events.get(calendarId="primary", eventId="nope0").execute()
    assert missing.value.resp.status == 404
