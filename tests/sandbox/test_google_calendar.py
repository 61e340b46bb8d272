"""Calendar API v3 in the sandbox: events insert/list/patch/delete, paging, incremental sync and
410, changes made on Google's side, rate limits, faults and access-token expiry."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from proirp.sandbox.google.ratelimit import AccountRateLimiter
from tests.sandbox.conftest import CLINICIAN, RunningGoogle

EVENTS = "calendars/primary/events"


def event_body(summary: str = "Session", hour: int = 10, day: int = 1) -> dict[str, Any]:
    return {
        "summary": summary,
        "start": {"dateTime": f"2026-03-{day:02d}T{hour:02d}:00:00Z"},
        "end": {"dateTime": f"2026-03-{day:02d}T{hour:02d}:50:00Z"},
    }


@pytest.fixture
def token(google: RunningGoogle) -> str:
    access: str = google.connect()["access_token"]
    return access


def list_all(google: RunningGoogle, token: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Page through events.list; every item and the final nextSyncToken."""
    items: list[dict[str, Any]] = []
    while True:
        page = google.api("GET", EVENTS, token, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if "nextPageToken" in body:
            assert "nextSyncToken" not in body
            params = {**params, "pageToken": body["nextPageToken"]}
            continue
        return items, body["nextSyncToken"]


def test_insert_then_list(google: RunningGoogle, token: str) -> None:
    created = google.api("POST", EVENTS, token, json=event_body("Intake", 9))
    assert created.status_code == 200, created.text
    event = created.json()
    assert event["kind"] == "calendar#event"
    assert event["status"] == "confirmed"
    assert event["summary"] == "Intake"
    assert event["organizer"] == {"email": CLINICIAN, "self": True}
    assert event["start"] == {"dateTime": "2026-03-01T09:00:00Z"}
    assert event["sequence"] == 0
    listed = google.api("GET", EVENTS, token).json()
    assert listed["kind"] == "calendar#events"
    assert listed["accessRole"] == "owner"
    assert [item["id"] for item in listed["items"]] == [event["id"]]
    assert "nextSyncToken" in listed and "nextPageToken" not in listed
    fetched = google.api("GET", f"{EVENTS}/{event['id']}", token).json()
    assert fetched == event
    by_email = google.api("GET", f"calendars/{CLINICIAN}/events", token).json()
    assert [item["id"] for item in by_email["items"]] == [event["id"]]


def test_all_day_events_and_time_zones(google: RunningGoogle, token: str) -> None:
    all_day = {"summary": "Away", "start": {"date": "2026-03-02"}, "end": {"date": "2026-03-03"}}
    assert google.api("POST", EVENTS, token, json=all_day).json()["start"] == {"date": "2026-03-02"}
    zoned = {
        "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-03-02T10:00:00", "timeZone": "America/New_York"},
    }
    assert google.api("POST", EVENTS, token, json=zoned).status_code == 200
    # 09:00 in New York is 14:00 UTC: outside a window ending at 13:00 UTC.
    window = {"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-02T13:00:00Z"}
    items = google.api("GET", EVENTS, token, params=window).json()["items"]
    assert [item.get("summary") for item in items] == ["Away"]


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (
            {"summary": "x", "start": {"dateTime": "2026-03-01T10:00:00Z"}},
            "required",
            "Missing end time.",
        ),
        (
            {
                "start": {"dateTime": "2026-03-01T10:00:00Z"},
                "end": {"dateTime": "2026-03-01T09:00:00Z"},
            },
            "timeRangeEmpty",
            "The specified time range is empty.",
        ),
        (
            {"start": {"dateTime": "soon"}, "end": {"dateTime": "2026-03-01T09:00:00Z"}},
            "invalid",
            "Invalid start time.",
        ),
    ],
)
def test_insert_refusals_in_googles_shape(
    google: RunningGoogle, token: str, body: dict[str, Any], reason: str, message: str
) -> None:
    answer = google.api("POST", EVENTS, token, json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400
    assert error["errors"][0]["reason"] == reason
    assert error["errors"][0]["message"] == message


def test_list_window_order_and_paging(google: RunningGoogle, token: str) -> None:
    for day in (5, 3, 4, 1, 2):
        google.api("POST", EVENTS, token, json=event_body(f"d{day}", day=day))
    params = {"singleEvents": "true", "orderBy": "startTime", "maxResults": "2"}
    items, _ = list_all(google, token, **params)
    assert [item["summary"] for item in items] == ["d1", "d2", "d3", "d4", "d5"]
    window = {"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-04T00:00:00Z"}
    items, _ = list_all(google, token, **window)
    assert [item["summary"] for item in items] == ["d2", "d3"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"orderBy": "startTime"},
            "The requested ordering is not available for the particular query.",
        ),
        ({"maxResults": "2501"}, "Invalid Value"),
        ({"timeMin": "yesterday"}, "Invalid Value"),
        ({"pageToken": "garbage"}, "Invalid page token value."),
    ],
)
def test_list_refusals(
    google: RunningGoogle, token: str, params: dict[str, str], message: str
) -> None:
    answer = google.api("GET", EVENTS, token, params=params)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == message


def test_incremental_sync_sees_changes_and_cancellations(google: RunningGoogle, token: str) -> None:
    first = google.api("POST", EVENTS, token, json=event_body("one")).json()
    second = google.api("POST", EVENTS, token, json=event_body("two", 11)).json()
    _, sync = list_all(google, token)
    nothing = google.api("GET", EVENTS, token, params={"syncToken": sync}).json()
    assert nothing["items"] == [] and nothing["nextSyncToken"]

    moved = google.api(
        "PATCH",
        f"{EVENTS}/{first['id']}",
        token,
        json={"start": {"dateTime": "2026-03-01T08:00:00Z"}},
    ).json()
    assert moved["sequence"] == 1 and moved["summary"] == "one"
    assert google.api("DELETE", f"{EVENTS}/{second['id']}", token).status_code == 204
    third = google.api("POST", EVENTS, token, json=event_body("three", 12)).json()

    changes, sync2 = list_all(google, token, syncToken=sync)
    by_id = {item["id"]: item for item in changes}
    assert list(by_id) == [first["id"], second["id"], third["id"]]
    assert by_id[second["id"]]["status"] == "cancelled"
    assert by_id[first["id"]]["start"] == {"dateTime": "2026-03-01T08:00:00Z"}
    # A full listing hides the cancelled event unless showDeleted.
    full, _ = list_all(google, token)
    assert {item["id"] for item in full} == {first["id"], third["id"]}
    shown, _ = list_all(google, token, showDeleted="true")
    assert len(shown) == 3
    assert google.api("DELETE", f"{EVENTS}/{second['id']}", token).status_code == 410
    assert google.api("GET", EVENTS, token, params={"syncToken": sync2}).json()["items"] == []


def test_changes_on_googles_side_reach_incremental_sync(google: RunningGoogle, token: str) -> None:
    seeded = google.control("POST", "events", json={"account": CLINICIAN, "count": 3})
    assert seeded.status_code == 201
    ids = seeded.json()["ids"]
    _, sync = list_all(google, token)
    changed = google.control("PATCH", f"events/{ids[0]}", json={"summary": "Renamed"})
    assert changed.status_code == 200
    assert google.control("DELETE", f"events/{ids[1]}").status_code == 204
    added = google.control(
        "POST", "events", json={"account": CLINICIAN, "events": [event_body("New")]}
    ).json()["ids"]
    changes, _ = list_all(google, token, syncToken=sync)
    assert [item["id"] for item in changes] == [ids[0], ids[1], *added]
    assert changes[0]["summary"] == "Renamed"
    assert changes[1]["status"] == "cancelled"
    assert google.control("PATCH", "events/nope", json={}).status_code == 404


def test_changes_while_paging_are_not_lost(google: RunningGoogle, token: str) -> None:
    ids = google.control("POST", "events", json={"account": CLINICIAN, "count": 6}).json()["ids"]
    page = google.api("GET", EVENTS, token, params={"maxResults": "3"}).json()
    assert len(page["items"]) == 3
    # On Google's side, mid-listing: a listed event changes and an unlisted one too.
    google.control("PATCH", f"events/{ids[0]}", json={"summary": "early change"})
    google.control("PATCH", f"events/{ids[4]}", json={"summary": "late change"})
    rest, sync = list_all(google, token, maxResults="3", pageToken=page["nextPageToken"])
    seen = [item["id"] for item in page["items"] + rest]
    changes, _ = list_all(google, token, syncToken=sync)
    assert set(seen) | {item["id"] for item in changes} == set(ids)
    assert {item["id"] for item in changes} == {ids[0], ids[4]}


def test_sync_token_refused_with_time_bounds(google: RunningGoogle, token: str) -> None:
    _, sync = list_all(google, token)
    answer = google.api(
        "GET", EVENTS, token, params={"syncToken": sync, "timeMin": "2026-01-01T00:00:00Z"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["reason"] == "invalid"


FULL_SYNC = {
    "error": {
        "errors": [
            {
                "domain": "global",
                "reason": "fullSyncRequired",
                "message": "Sync token is no longer valid, a full sync is required.",
            }
        ],
        "code": 410,
        "message": "Sync token is no longer valid, a full sync is required.",
    }
}


def test_expired_sync_tokens_answer_410(google: RunningGoogle, token: str) -> None:
    _, sync = list_all(google, token)
    assert google.control("POST", "expire-sync-tokens").status_code == 200
    answer = google.api("GET", EVENTS, token, params={"syncToken": sync})
    assert answer.status_code == 410
    assert answer.json() == FULL_SYNC
    _, fresh = list_all(google, token)
    assert google.api("GET", EVENTS, token, params={"syncToken": fresh}).status_code == 200
    assert google.state.stats()["full_sync_required"] == 1


def test_sync_tokens_age_out(google: RunningGoogle, token: str) -> None:
    _, sync = list_all(google, token)
    google.control("POST", "config", json={"sync_token_max_age_seconds": 0})
    time.sleep(0.01)
    assert google.api("GET", EVENTS, token, params={"syncToken": sync}).status_code == 410
    google.control("POST", "config", json={"sync_token_max_age_seconds": None})
    assert google.api("GET", EVENTS, token, params={"syncToken": sync}).status_code == 200


def test_ten_thousand_events_seed_fast_and_page_by_2500(google: RunningGoogle, token: str) -> None:
    started = time.perf_counter()
    seeded = google.control("POST", "events", json={"account": CLINICIAN, "count": 10_000})
    assert seeded.status_code == 201
    assert seeded.json()["created"] == 10_000
    assert time.perf_counter() - started < 2.0
    pages = 0
    params: dict[str, str] = {"maxResults": "2500"}
    total = 0
    while True:
        body = google.api("GET", EVENTS, token, params=params).json()
        pages += 1
        total += len(body["items"])
        if "nextPageToken" not in body:
            break
        params["pageToken"] = body["nextPageToken"]
    assert (pages, total) == (4, 10_000)
    default = google.api("GET", EVENTS, token).json()
    assert len(default["items"]) == 250


def test_unknown_calendar_and_event_are_404(google: RunningGoogle, token: str) -> None:
    other = google.api("GET", "calendars/someone@example.org/events", token)
    assert other.status_code == 404
    assert other.json() == {
        "error": {
            "errors": [{"domain": "global", "reason": "notFound", "message": "Not Found"}],
            "code": 404,
            "message": "Not Found",
        }
    }
    assert google.api("GET", f"{EVENTS}/nope0", token).status_code == 404


def test_missing_or_bad_token_is_401(google: RunningGoogle) -> None:
    missing = requests.get(google.calendar_base + "/" + EVENTS, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["errors"][0]["reason"] == "required"
    bad = google.api("GET", EVENTS, "ya29.nope")
    assert bad.status_code == 401
    error = bad.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"


def test_read_only_scope_cannot_insert(google: RunningGoogle) -> None:
    tokens = google.connect(scope="https://www.googleapis.com/auth/calendar.readonly")
    assert google.api("GET", EVENTS, tokens["access_token"]).status_code == 200
    refused = google.api("POST", EVENTS, tokens["access_token"], json=event_body())
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_access_tokens_expire_and_refresh_works(google: RunningGoogle) -> None:
    tokens = google.connect()
    assert google.control("POST", "expire-access-tokens").json() == {"expired": 1}
    assert google.api("GET", EVENTS, tokens["access_token"]).status_code == 401
    fresh = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert google.api("GET", EVENTS, fresh["access_token"]).status_code == 200
    google.control("POST", "config", json={"access_token_seconds": 0})
    born_dead = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert born_dead.json()["expires_in"] == 0
    assert google.api("GET", EVENTS, born_dead.json()["access_token"]).status_code == 401


def test_revoking_an_account_on_googles_side(google: RunningGoogle) -> None:
    tokens = google.connect()
    assert google.control("POST", "revoke", json={"account": CLINICIAN}).json() == {
        "revoked_grants": 1
    }
    refreshed = google.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    accounts = google.control("GET", "accounts").json()["accounts"]
    assert accounts[0]["account"] == CLINICIAN
    assert accounts[0]["live_grants"] == 0
    assert "ya29" not in str(accounts) and "1//" not in str(accounts)


@pytest.mark.parametrize(
    ("knobs", "status", "reason"),
    [
        ({}, 403, "userRateLimitExceeded"),
        ({"rate_limit_reason": "rateLimitExceeded"}, 403, "rateLimitExceeded"),
        ({"rate_limit_status": 429}, 429, "rateLimitExceeded"),
    ],
)
def test_per_user_rate_limit(
    google: RunningGoogle, token: str, knobs: dict[str, Any], status: int, reason: str
) -> None:
    google.control("POST", "config", json={"rpm": 2, **knobs})
    assert google.api("GET", EVENTS, token).status_code == 200
    assert google.api("GET", EVENTS, token).status_code == 200
    refused = google.api("GET", EVENTS, token)
    assert refused.status_code == status
    error = refused.json()["error"]
    assert error["errors"][0] == {
        "domain": "usageLimits",
        "reason": reason,
        "message": "Rate Limit Exceeded",
    }
    # Another account has its own quota.
    other = google.connect(account="other@sandbox.example.com")["access_token"]
    assert google.api("GET", EVENTS, other).status_code == 200
    assert google.state.stats()["rejected_rate"] == 1


def test_injected_faults_and_latency(google: RunningGoogle, token: str) -> None:
    google.control("POST", "config", json={"fail_next": 1, "fail_status": 500})
    fault = google.api("GET", EVENTS, token)
    assert fault.status_code == 500
    assert fault.json()["error"]["errors"][0]["reason"] == "backendError"
    assert google.api("GET", EVENTS, token).status_code == 200
    google.control("POST", "config", json={"latency_ms": 150})
    started = time.perf_counter()
    assert google.api("GET", EVENTS, token).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_timeout_holds_the_answer(google: RunningGoogle, token: str) -> None:
    google.control("POST", "config", json={"timeout_next": 1, "timeout_seconds": 1})
    with pytest.raises(requests.Timeout):
        google.api("POST", EVENTS, token, json=event_body(), timeout=0.3)
    # The event was made; only the answer was late.
    assert len(google.api("GET", EVENTS, token).json()["items"]) == 1
    assert google.state.stats()["timeouts"] == 1


def test_control_routes_need_the_client_credentials(google: RunningGoogle) -> None:
    refused = google.control("GET", "stats", auth=("someone", "else"))
    assert refused.status_code == 401
    assert google.control("GET", "stats").json()["events_list"] == 0
    bad = google.control("POST", "config", json={"rpm": 0})
    assert bad.status_code == 400
    reset = google.control("POST", "reset").json()
    assert reset["reset"] is True and reset["config"]["rpm"] is None


def test_reset_forgets_tokens_and_events(google: RunningGoogle, token: str) -> None:
    google.api("POST", EVENTS, token, json=event_body())
    google.control("POST", "reset")
    assert google.api("GET", EVENTS, token).status_code == 401
    assert google.control("GET", "accounts").json() == {"accounts": []}


def test_rate_window_is_a_sliding_minute() -> None:
    now = [1000.0]
    limiter = AccountRateLimiter(2, clock=lambda: now[0])
    assert limiter.try_acquire("a") and limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert limiter.try_acquire("b")
    now[0] += 59.9
    assert not limiter.try_acquire("a")
    now[0] += 0.2
    assert limiter.try_acquire("a")
