"""Contract: the sandbox's event changes (Google's events.patch/events.delete, Graph's PATCH and
DELETE on /me/events/{id}) with `If-Match`, and weekly series, in the vendors' own shapes.

Google is held to the Calendar v3 discovery document the official client ships (via
test_google_contract.check). Graph publishes no description small enough to keep here; its
names below are those of the v1.0 reference pages (event, patternedRecurrence,
recurrencePattern, recurrenceRange, and the errors page's 412).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from tests.sandbox.conftest import CLINICIAN, MAILBOX, RunningGoogle, RunningMicrosoft
from tests.sandbox.test_google_contract import check, method, service

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

START = datetime(2026, 12, 1, 15, tzinfo=UTC)  # a Tuesday
# https://learn.microsoft.com/graph/api/resources/event (v1.0): `type` and the series' names.
GRAPH_EVENT_TYPES = {"singleInstance", "occurrence", "exception", "seriesMaster"}
GRAPH_PATTERN = {"type", "interval", "month", "dayOfMonth", "daysOfWeek", "firstDayOfWeek", "index"}
GRAPH_RANGE = {"type", "startDate", "endDate", "recurrenceTimeZone", "numberOfOccurrences"}
WEEKLY = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
    "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 3},
}
WINDOW = "startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z"


def _timed(start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "summary": "Session",
        "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=50)).isoformat(), "timeZone": "UTC"},
        **extra,
    }


# --- Google ---------------------------------------------------------------------------------


@pytest.fixture
def token(google: RunningGoogle) -> str:
    access: str = google.connect()["access_token"]
    return access


def test_google_patch_and_delete_are_the_described_methods() -> None:
    assert (method("events", "patch")["httpMethod"], method("events", "delete")["httpMethod"]) == (
        "PATCH",
        "DELETE",
    )
    assert method("events", "patch")["response"] == {"$ref": "Event"}
    assert "response" not in method("events", "delete")  # 204, no body


def test_google_if_match_guards_patch_and_delete(google: RunningGoogle, token: str) -> None:
    event = google.api("POST", "calendars/primary/events", token, json=_timed(START)).json()
    path = f"calendars/primary/events/{event['id']}"
    patched = google.api(
        "PATCH", path, token, json={"summary": "Moved"}, headers={"If-Match": event["etag"]}
    )
    assert patched.status_code == 200, patched.text
    check({"$ref": "Event"}, patched.json(), "patched")
    assert patched.json()["etag"] != event["etag"]
    assert patched.json()["updated"] >= event["updated"]
    for verb, body in (("PATCH", {"summary": "Lost"}), ("DELETE", None)):
        stale = google.api(verb, path, token, json=body, headers={"If-Match": event["etag"]})
        assert stale.status_code == 412
        assert stale.json() == {
            "error": {
                "code": 412,
                "message": "Precondition Failed",
                "errors": [
                    {
                        "domain": "global",
                        "reason": "conditionNotMet",
                        "message": "Precondition Failed",
                        "locationType": "header",
                        "location": "If-Match",
                    }
                ],
            }
        }
    assert google.api("GET", path, token).json()["summary"] == "Moved"
    gone = google.api("DELETE", path, token, headers={"If-Match": patched.json()["etag"]})
    assert (gone.status_code, gone.content) == (204, b"")
    for verb in ("PATCH", "DELETE"):
        missing = google.api(verb, "calendars/primary/events/nothere0", token, json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["errors"][0]["reason"] == "notFound"


def test_google_series_in_the_described_shape(google: RunningGoogle, token: str) -> None:
    rule = ["RRULE:FREQ=WEEKLY;COUNT=3"]
    master = google.api(
        "POST", "calendars/primary/events", token, json=_timed(START, recurrence=rule)
    ).json()
    check({"$ref": "Event"}, master, "series")
    assert master["recurrence"] == rule
    listed = google.api(
        "GET", "calendars/primary/events", token, params={"singleEvents": "true"}
    ).json()
    check({"$ref": "Events"}, listed, "instances")
    instances = listed["items"]
    assert [i["id"] for i in instances] == [
        f"{master['id']}_{(START + timedelta(weeks=n)).strftime('%Y%m%dT%H%M%SZ')}"
        for n in range(3)
    ]
    assert {i["recurringEventId"] for i in instances} == {master["id"]}
    assert instances[1]["originalStartTime"] == instances[1]["start"]
    # Without singleEvents: the master alone, until an instance changes on its own.
    plain = google.api("GET", "calendars/primary/events", token).json()["items"]
    assert [e["id"] for e in plain] == [master["id"]]
    sync = listed["nextSyncToken"]
    google.api("DELETE", f"calendars/primary/events/{instances[2]['id']}", token)
    changes = google.api(
        "GET",
        "calendars/primary/events",
        token,
        params={"syncToken": sync, "singleEvents": "true", "showDeleted": "true"},
    ).json()
    check({"$ref": "Events"}, changes, "changes")
    [cancelled] = changes["items"]
    assert (cancelled["id"], cancelled["status"]) == (instances[2]["id"], "cancelled")
    assert cancelled["recurringEventId"] == master["id"] and "originalStartTime" in cancelled


def test_google_refuses_a_rule_it_does_not_imitate(google: RunningGoogle, token: str) -> None:
    daily = _timed(START, recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    refused = google.api("POST", "calendars/primary/events", token, json=daily)
    assert refused.status_code == 400
    assert refused.json()["error"]["errors"][0]["reason"] == "invalid"


def test_the_official_client_sends_if_match_and_reads_the_412(google: RunningGoogle) -> None:
    events = service(google, Credentials(google.connect()["access_token"])).events()
    created = events.insert(calendarId="primary", body=_timed(START)).execute()
    google.control("POST", f"events/{created['id']}/touch").raise_for_status()
    request = events.patch(calendarId="primary", eventId=created["id"], body={"summary": "x"})
    request.headers["If-Match"] = created["etag"]
    with pytest.raises(HttpError) as refused:
        request.execute()
    assert refused.value.resp.status == 412
    assert refused.value.error_details[0]["reason"] == "conditionNotMet"


def test_google_control_routes_move_touch_and_make_series(google: RunningGoogle) -> None:
    made = google.control(
        "POST", "series", json={"account": CLINICIAN, "start": START.isoformat(), "count": 2}
    )
    assert made.status_code == 201, made.text
    series = made.json()
    assert len(series["ids"]) == 2 and series["ids"][0].startswith(series["series_id"] + "_")
    later = START + timedelta(hours=3)
    moved = google.control(
        "POST",
        f"events/{series['ids'][0]}/move",
        json={"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()},
    ).json()
    assert datetime.fromisoformat(moved["start"]["dateTime"]) == later
    touched = google.control("POST", f"events/{series['ids'][0]}/touch").json()
    assert touched["etag"] != moved["etag"] and touched["start"] == moved["start"]
    assert google.control("POST", "events/nothere0/touch").status_code == 404
    naive = google.control(
        "POST", "series", json={"account": CLINICIAN, "start": "2026-12-01T09:00"}
    )
    assert naive.status_code == 400


# --- Microsoft Graph ------------------------------------------------------------------------


@pytest.fixture
def access(microsoft: RunningMicrosoft) -> str:
    token: str = microsoft.connect()["access_token"]
    return token


def _graph_event(start: datetime, **extra: Any) -> dict[str, Any]:
    stamp = "%Y-%m-%dT%H:%M:%S"
    return {
        "subject": "Session",
        "start": {"dateTime": start.strftime(stamp), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(minutes=50)).strftime(stamp), "timeZone": "UTC"},
        **extra,
    }


def test_graph_if_match_guards_patch_and_delete(microsoft: RunningMicrosoft, access: str) -> None:
    created = microsoft.graph("POST", "me/events", access, json=_graph_event(START)).json()
    path, etag = f"me/events/{created['id']}", created["@odata.etag"]
    patched = microsoft.graph(
        "PATCH", path, access, json={"subject": "Moved"}, headers={"If-Match": etag}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["@odata.etag"] != etag
    assert patched.json()["lastModifiedDateTime"] >= created["lastModifiedDateTime"]
    for verb, body in (("PATCH", {"subject": "Lost"}), ("DELETE", None)):
        stale = microsoft.graph(verb, path, access, json=body, headers={"If-Match": etag})
        assert stale.status_code == 412
        error = stale.json()["error"]
        assert error["code"] == "ErrorIrresolvableConflict"
        assert set(error) == {"code", "message", "innerError"}
    assert microsoft.graph("GET", path, access).json()["subject"] == "Moved"
    fresh = {"If-Match": patched.json()["@odata.etag"]}
    deleted = microsoft.graph("DELETE", path, access, headers=fresh)
    assert (deleted.status_code, deleted.content) == (204, b"")
    for verb in ("PATCH", "DELETE"):
        missing = microsoft.graph(verb, path, access, json={"subject": "x"})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_graph_series_in_the_documented_shape(microsoft: RunningMicrosoft, access: str) -> None:
    master = microsoft.graph(
        "POST", "me/events", access, json=_graph_event(START, recurrence=WEEKLY)
    ).json()
    assert master["type"] == "seriesMaster" and master["seriesMasterId"] is None
    assert set(master["recurrence"]) == {"pattern", "range"}
    assert set(master["recurrence"]["pattern"]) <= GRAPH_PATTERN
    assert set(master["recurrence"]["range"]) <= GRAPH_RANGE
    first = microsoft.graph("GET", f"me/calendarView/delta?{WINDOW}", access).json()
    occurrences = first["value"]
    assert len(occurrences) == 3 and master["id"] not in {o["id"] for o in occurrences}
    assert {o["type"] for o in occurrences} == {"occurrence"} <= GRAPH_EVENT_TYPES
    assert {o["seriesMasterId"] for o in occurrences} == {master["id"]}
    assert occurrences[1]["originalStart"] == "2026-12-08T15:00:00Z"
    moved = microsoft.graph(
        "PATCH",
        f"me/events/{occurrences[1]['id']}",
        access,
        json=_graph_event(START + timedelta(days=8)),
    ).json()
    assert moved["type"] == "exception" and moved["originalStart"] == "2026-12-08T15:00:00Z"
    microsoft.graph("DELETE", f"me/events/{occurrences[2]['id']}", access)
    changes = microsoft.graph("GET", first["@odata.deltaLink"], access).json()["value"]
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {occurrences[1]["id"], occurrences[2]["id"]}
    assert by_id[occurrences[1]["id"]]["start"]["dateTime"].startswith("2026-12-09T15:00:00")
    assert by_id[occurrences[2]["id"]]["@removed"] == {"reason": "deleted"}


def test_graph_refuses_a_recurrence_it_does_not_imitate(
    microsoft: RunningMicrosoft, access: str
) -> None:
    daily = {**WEEKLY, "pattern": {"type": "daily", "interval": 1}}
    refused = microsoft.graph(
        "POST", "me/events", access, json=_graph_event(START, recurrence=daily)
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidRequest"


def test_graph_control_routes_move_touch_and_make_series(microsoft: RunningMicrosoft) -> None:
    made = microsoft.control(
        "POST", "series", json={"account": MAILBOX, "start": START.isoformat(), "count": 3}
    )
    assert made.status_code == 201, made.text
    series = made.json()
    later = START + timedelta(hours=3)
    moved = microsoft.control(
        "POST",
        f"events/{series['ids'][0]}/move",
        json={"start": later.isoformat(), "end": (later + timedelta(hours=1)).isoformat()},
    ).json()
    assert moved["start"]["dateTime"].startswith("2026-12-01T18:00:00")
    assert moved["type"] == "exception" and moved["seriesMasterId"] == series["series_id"]
    touched = microsoft.control("POST", f"events/{series['ids'][1]}/touch").json()
    assert touched["type"] == "occurrence" and touched["@odata.etag"]
    held = microsoft.control("GET", f"events?account={MAILBOX}").json()
    assert held["count"] == 4  # the master and its three occurrences
