"""Microsoft Graph v1.0 in the sandbox, over TLS with tokens from msal: /me, events,
calendarView paging, calendarView/delta rounds (full, incremental, 410), and Graph's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.sandbox.conftest import MAILBOX, MICROSOFT_REDIRECT_URI, RunningMicrosoft

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

START = datetime(2026, 11, 27, 9, tzinfo=UTC)
WINDOW = "startDateTime=2026-11-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z"
EVENT = {
    "subject": "Intake session",
    "body": {"contentType": "text", "content": "Room 2"},
    "start": {"dateTime": "2026-11-27T07:00:00", "timeZone": "Pacific Standard Time"},
    "end": {"dateTime": "2026-11-27T07:50:00.0000000", "timeZone": "Pacific Standard Time"},
    "location": {"displayName": "Lakeside clinic"},
}


@pytest.fixture
def access(microsoft: RunningMicrosoft) -> str:
    """An access token for the clinician's mailbox, from msal's sign-in."""
    token: str = microsoft.connect()["access_token"]
    return token


def seed(microsoft: RunningMicrosoft, count: int, start: datetime = START) -> list[str]:
    answer = microsoft.control(
        "POST", "events", json={"account": MAILBOX, "count": count, "start": start.isoformat()}
    )
    assert answer.status_code == 201, answer.text
    ids: list[str] = answer.json()["ids"]
    return ids


def delta_round(
    microsoft: RunningMicrosoft, access: str, url: str, *, page_size: int | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (entries, deltaLink, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = microsoft.graph("GET", url, access, headers=headers)
        assert answer.status_code == 200, answer.text
        if page_size:
            assert answer.headers["preference-applied"] == f"odata.maxpagesize={page_size}"
        body = answer.json()
        pages += 1
        entries += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


# --- /me and authentication ------------------------------------------------------------------


def test_me_is_the_signed_in_user(microsoft: RunningMicrosoft, access: str) -> None:
    answer = microsoft.graph("GET", "me", access)
    assert answer.status_code == 200
    me = answer.json()
    assert me["@odata.context"] == microsoft.graph_base + "/$metadata#users/$entity"
    assert me["userPrincipalName"] == MAILBOX and me["mail"] == MAILBOX
    assert me["displayName"] == "Clinician"
    assert me["id"]
    assert answer.headers["request-id"]


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "Access token is empty."), ("EwBnot-a-token", "Access token validation failure")],
)
def test_missing_or_unknown_token_is_401(
    microsoft: RunningMicrosoft, token: str | None, message: str
) -> None:
    answer = microsoft.graph("GET", "me", token)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["message"].startswith(message)
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_expired_access_token_is_401_until_refreshed(
    microsoft: RunningMicrosoft, access: str
) -> None:
    assert microsoft.control("POST", "expire-access-tokens").json() == {"expired": 1}
    answer = microsoft.graph("GET", "me", access)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Lifetime validation failed, the token is expired."
    assert microsoft.control("GET", "stats").json()["rejected_401"] == 1


def test_born_expired_tokens_with_the_lifetime_knob(microsoft: RunningMicrosoft) -> None:
    microsoft.control("POST", "config", json={"access_token_seconds": 0})
    assert microsoft.graph("GET", "me", microsoft.connect()["access_token"]).status_code == 401


# --- events ----------------------------------------------------------------------------------


def test_create_event_answers_graphs_shape_in_utc(microsoft: RunningMicrosoft, access: str) -> None:
    answer = microsoft.graph("POST", "me/events", access, json=EVENT)
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert event["@odata.context"].startswith(microsoft.graph_base + "/$metadata#users('")
    assert event["@odata.context"].endswith("')/events/$entity")
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert len(event["id"]) == 148 and event["id"].endswith("=")
    assert event["type"] == "singleInstance" and event["isCancelled"] is False
    assert event["subject"] == "Intake session" and event["bodyPreview"] == "Room 2"
    assert event["body"] == {"contentType": "text", "content": "Room 2"}
    # 07:00 in Los Angeles on 27 November is 15:00 UTC.
    assert event["start"] == {"dateTime": "2026-11-27T15:00:00.0000000", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2026-11-27T15:50:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    assert event["location"]["displayName"] == "Lakeside clinic"
    assert event["organizer"]["emailAddress"]["address"] == MAILBOX
    assert event["createdDateTime"].endswith("Z") and len(event["createdDateTime"]) == 28
    fetched = microsoft.graph("GET", f"me/events/{event['id']}", access).json()
    assert fetched["changeKey"] == event["changeKey"]
    # The mailbox keeps the zone it was made in.
    [held] = microsoft.control("GET", f"events?account={MAILBOX}").json()["events"]
    assert held["start"] == {
        "dateTime": "2026-11-27T07:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }


def test_prefer_outlook_timezone_shows_times_in_that_zone(
    microsoft: RunningMicrosoft, access: str
) -> None:
    headers = {"Prefer": 'outlook.timezone="Eastern Standard Time"'}
    answer = microsoft.graph("POST", "me/events", access, json=EVENT, headers=headers)
    assert answer.json()["start"] == {
        "dateTime": "2026-11-27T10:00:00.0000000",
        "timeZone": "Eastern Standard Time",
    }
    assert answer.headers["preference-applied"] == 'outlook.timezone="Eastern Standard Time"'
    iana = {"Prefer": 'outlook.timezone="America/Chicago"'}
    listed = microsoft.graph("GET", f"me/calendarView?{WINDOW}", access, headers=iana).json()
    assert listed["value"][0]["start"]["dateTime"] == "2026-11-27T09:00:00.0000000"


def test_update_and_delete_an_event(microsoft: RunningMicrosoft, access: str) -> None:
    created = microsoft.graph("POST", "me/events", access, json=EVENT).json()
    path = f"me/events/{created['id']}"
    moved = microsoft.graph(
        "PATCH",
        path,
        access,
        json={
            "start": {"dateTime": "2026-11-27T16:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-27T17:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"]["dateTime"] == "2026-11-27T16:00:00.0000000"
    assert moved.json()["changeKey"] != created["changeKey"]
    assert moved.json()["subject"] == "Intake session"
    deleted = microsoft.graph("DELETE", path, access)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = microsoft.graph("GET", path, access)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ErrorItemNotFound"
    malformed = microsoft.graph("GET", "me/events/not-an-id", access)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "ErrorInvalidIdMalformed"


def test_transaction_id_makes_a_retried_create_idempotent(
    microsoft: RunningMicrosoft, access: str
) -> None:
    body = {**EVENT, "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7"}
    first = microsoft.graph("POST", "me/events", access, json=body).json()
    second = microsoft.graph("POST", "me/events", access, json=body).json()
    assert first["id"] == second["id"]
    assert microsoft.control("GET", f"events?account={MAILBOX}").json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {**EVENT, "start": {"dateTime": "2026-11-27T07:00:00", "timeZone": "Mars/Olympus"}},
            "TimeZoneNotSupportedException",
        ),
        (
            {**EVENT, "start": {"dateTime": "next tuesday", "timeZone": "UTC"}},
            "UnableToDeserializePostBody",
        ),
        ({**EVENT, "subject": 42}, "UnableToDeserializePostBody"),
        ({**EVENT, "notAProperty": True}, "RequestBodyRead"),
        ({"subject": "Intake session"}, "ErrorInvalidRequest"),
        ({**EVENT, "end": EVENT["start"], "start": EVENT["end"]}, "ErrorInvalidRequest"),
        ([EVENT], "BadRequest"),
    ],
)
def test_invalid_events_are_refused_without_echoing_them(
    microsoft: RunningMicrosoft, access: str, body: object, code: str
) -> None:
    answer = microsoft.graph("POST", "me/events", access, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert "Intake" not in answer.text and "Room 2" not in answer.text


def test_calendars_scope_is_needed_for_events(microsoft: RunningMicrosoft) -> None:
    app = microsoft.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=MICROSOFT_REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(flow, microsoft.consent(flow["auth_uri"]))
    answer = microsoft.graph("POST", "me/events", result["access_token"], json=EVENT)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"


# --- calendarView ----------------------------------------------------------------------------


def test_calendar_view_pages_with_top_and_skip(microsoft: RunningMicrosoft, access: str) -> None:
    ids = seed(microsoft, 25)
    url = f"me/calendarView?{WINDOW}"
    seen: list[str] = []
    pages = 0
    while url:
        answer = microsoft.graph("GET", url, access)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        seen += [event["id"] for event in body["value"]]
        url = body.get("@odata.nextLink", "")
        if url:
            assert url.startswith(microsoft.graph_base + "/me/calendarView?")
            assert "$skip=" in url and "$top=10" in url
    assert pages == 3
    assert seen == ids  # by start time, each once
    top = microsoft.graph("GET", f"me/calendarView?{WINDOW}&$top=20", access).json()
    assert len(top["value"]) == 20
    skip = dict(parse_qsl(urlsplit(top["@odata.nextLink"]).query))["$skip"]
    assert skip == "20"
    stats = microsoft.control("GET", "stats").json()
    assert stats["calendar_view_pages"] == 4 and stats["events_listed"] == 45


def test_calendar_view_lists_only_the_window(microsoft: RunningMicrosoft, access: str) -> None:
    seed(microsoft, 3, start=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    seed(microsoft, 1, start=datetime(2027, 2, 1, tzinfo=UTC))
    listed = microsoft.graph("GET", f"me/calendarView?{WINDOW}", access).json()["value"]
    # The one starting 23:30 on 31 October ends inside the window; the February one is out.
    assert len(listed) == 3


def test_calendar_view_needs_a_window(microsoft: RunningMicrosoft, access: str) -> None:
    for url in (
        "me/calendarView",
        "me/calendarView/delta",
        "me/calendarView?startDateTime=2026-11-01",
    ):
        answer = microsoft.graph("GET", url, access)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "ErrorInvalidParameter"
        assert error["message"] == (
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime."
        )
    too_many = microsoft.graph("GET", f"me/calendarView?{WINDOW}&$top=1001", access)
    assert too_many.status_code == 400


# --- calendarView/delta ----------------------------------------------------------------------


def test_delta_full_round_pages_with_prefer_maxpagesize(
    microsoft: RunningMicrosoft, access: str
) -> None:
    ids = seed(microsoft, 7)
    entries, delta_link, pages = delta_round(
        microsoft, access, f"me/calendarView/delta?{WINDOW}", page_size=3
    )
    assert pages == 3
    assert sorted(e["id"] for e in entries) == sorted(ids)
    assert all("@removed" not in e for e in entries)
    assert delta_link.startswith(microsoft.graph_base + "/me/calendarView/delta?$deltatoken=")
    # Without Prefer the page size is Graph's default for the round (the delta_page_size knob).
    default = microsoft.graph("GET", f"me/calendarView/delta?{WINDOW}", access)
    assert len(default.json()["value"]) == 7
    assert "preference-applied" not in default.headers


def test_delta_round_of_changes_made_in_outlook(microsoft: RunningMicrosoft, access: str) -> None:
    ids = seed(microsoft, 5)
    _, delta_link, _ = delta_round(microsoft, access, f"me/calendarView/delta?{WINDOW}")
    # Nothing changed: an empty round, and a new deltaLink.
    entries, delta_link, _ = delta_round(microsoft, access, delta_link)
    assert entries == []
    # Changes on Microsoft's side: one renamed, one deleted, one moved out of the window, one new.
    renamed = microsoft.control("PATCH", f"events/{ids[0]}", json={"subject": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["subject"] == "Renamed"
    assert microsoft.control("DELETE", f"events/{ids[1]}").status_code == 204
    moved = {
        "start": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2027-03-01T11:00:00", "timeZone": "UTC"},
    }
    assert microsoft.control("PATCH", f"events/{ids[2]}", json=moved).status_code == 200
    added = seed(microsoft, 1, start=START + timedelta(days=2))
    entries, delta_link, pages = delta_round(microsoft, access, delta_link, page_size=2)
    assert pages == 2
    by_id = {e["id"]: e for e in entries}
    assert set(by_id) == {ids[0], ids[1], ids[2], added[0]}
    assert by_id[ids[0]]["subject"] == "Renamed"
    for gone in (ids[1], ids[2]):
        assert by_id[gone] == {
            "@odata.type": "#microsoft.graph.event",
            "id": gone,
            "@removed": {"reason": "deleted"},
        }
    assert by_id[added[0]]["subject"] == "Sandbox event 1"
    # Events created and deleted outside the window never show.
    outside = seed(microsoft, 1, start=datetime(2027, 6, 1, tzinfo=UTC))
    microsoft.control("DELETE", f"events/{outside[0]}")
    assert delta_round(microsoft, access, delta_link)[0] == []


def test_changes_made_while_paging_reach_the_next_round(
    microsoft: RunningMicrosoft, access: str
) -> None:
    ids = seed(microsoft, 4)
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = microsoft.graph("GET", f"me/calendarView/delta?{WINDOW}", access, headers=headers)
    page_one = [e["id"] for e in first.json()["value"]]
    late = next(i for i in ids if i not in page_one)
    microsoft.control("PATCH", f"events/{late}", json={"subject": "Edited mid-round"})
    rest, delta_link, _ = delta_round(
        microsoft, access, first.json()["@odata.nextLink"], page_size=2
    )
    assert late not in [e["id"] for e in rest]
    entries, _, _ = delta_round(microsoft, access, delta_link)
    assert [(e["id"], e["subject"]) for e in entries] == [(late, "Edited mid-round")]


def test_events_made_through_graph_show_in_delta(microsoft: RunningMicrosoft, access: str) -> None:
    _, delta_link, _ = delta_round(microsoft, access, f"me/calendarView/delta?{WINDOW}")
    created = microsoft.graph("POST", "me/events", access, json=EVENT).json()
    entries, delta_link, _ = delta_round(microsoft, access, delta_link)
    assert [e["id"] for e in entries] == [created["id"]]
    microsoft.graph("DELETE", f"me/events/{created['id']}", access)
    entries, delta_link, _ = delta_round(microsoft, access, delta_link)
    assert entries == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": created["id"],
            "@removed": {"reason": "deleted"},
        }
    ]
    # Made and deleted between two rounds: the client never saw it, so nothing to report.
    brief = microsoft.graph("POST", "me/events", access, json=EVENT).json()
    microsoft.graph("DELETE", f"me/events/{brief['id']}", access)
    assert delta_round(microsoft, access, delta_link)[0] == []


def test_expired_delta_tokens_answer_410(microsoft: RunningMicrosoft, access: str) -> None:
    seed(microsoft, 3)
    first = microsoft.graph(
        "GET", f"me/calendarView/delta?{WINDOW}", access, headers={"Prefer": "odata.maxpagesize=1"}
    ).json()
    _, delta_link, _ = delta_round(microsoft, access, f"me/calendarView/delta?{WINDOW}")
    assert microsoft.control("POST", "expire-delta-tokens").json() == {"expired": True}
    for url in (delta_link, first["@odata.nextLink"]):
        answer = microsoft.graph("GET", url, access)
        assert answer.status_code == 410
        error = answer.json()["error"]
        assert error["code"] == "SyncStateNotFound"
        assert error["message"].startswith("The sync state generation is not found")
    garbled = microsoft.graph("GET", "me/calendarView/delta?$deltatoken=garbage", access)
    assert garbled.status_code == 410
    assert microsoft.control("GET", "stats").json()["delta_gone"] == 3
    # A new full round works.
    assert delta_round(microsoft, access, f"me/calendarView/delta?{WINDOW}")[2] == 1


def test_delta_tokens_belong_to_their_mailbox(microsoft: RunningMicrosoft, access: str) -> None:
    _, delta_link, _ = delta_round(microsoft, access, f"me/calendarView/delta?{WINDOW}")
    other = microsoft.connect(account="therapist@lakeside.onmicrosoft.com")["access_token"]
    assert microsoft.graph("GET", delta_link, other).status_code == 410


def test_control_events_lists_the_mailbox_and_seeds_in_bulk(microsoft: RunningMicrosoft) -> None:
    seeded = microsoft.control(
        "POST", "events", json={"account": MAILBOX, "events": [EVENT], "count": 10_000}
    )
    assert seeded.status_code == 201 and seeded.json()["created"] == 10_001
    listed = microsoft.control("GET", f"events?account={MAILBOX}").json()
    assert listed["count"] == 10_001
    accounts = microsoft.control("GET", "accounts").json()["accounts"]
    assert [(a["account"], a["events"]) for a in accounts] == [(MAILBOX, 10_001)]


def test_control_accounts_adds_a_directory_user(microsoft: RunningMicrosoft) -> None:
    added = microsoft.control(
        "POST",
        "accounts",
        json={"account": "Dr.Lee@lakeside.onmicrosoft.com", "display_name": "Dr Lee"},
    )
    assert added.status_code == 201
    assert added.json()["account"] == "dr.lee@lakeside.onmicrosoft.com"
    token = microsoft.connect(account="dr.lee@lakeside.onmicrosoft.com")["access_token"]
    assert microsoft.graph("GET", "me", token).json()["displayName"] == "Dr Lee"
