"""Outlook end to end: the product's processes and the sandbox's Microsoft identity platform and
Graph over real HTTPS, through msal: the OAuth dance, refresh-token rotation, events, delta sync,
throttling, disconnect."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.calendars.tokens import access_token
from proirp.config import Settings
from tests.calendars.dance import (
    OUTLOOK_ACCOUNT,
    audits,
    cached,
    connect,
    event_body,
    expire_access_tokens,
    integrations,
    new_client,
    new_user,
    next_days,
    query_of,
    wait_for_sync,
)
from tests.conftest import make_settings
from tests.live import BIN, LiveStack, Process, free_port, wait_until

CONCURRENT = 50


def _connect(live: LiveStack, token: str) -> None:
    answer = connect(live, token, provider="microsoft")
    assert query_of(answer.headers["location"])["outcome"] == "connected", answer.headers
    wait_for_sync(live, token)


def _integration(live: LiveStack) -> CalendarIntegration:
    with live.session() as session:
        found = session.scalars(
            select(CalendarIntegration)
            .where(CalendarIntegration.provider == "microsoft")
            .order_by(CalendarIntegration.created_at.desc())
        ).first()
        assert found is not None
        return found


def _settings(live: LiveStack) -> Settings:
    """The product's settings, for calling its token layer from the test process."""
    env = live.env
    return make_settings(
        live.tmp,
        database_url=live.database_url,
        microsoft_client_id=env["MICROSOFT_CLIENT_ID"],
        microsoft_client_secret=env["MICROSOFT_CLIENT_SECRET"],
        microsoft_authority=env["MICROSOFT_AUTHORITY"],
        microsoft_graph_base=env["MICROSOFT_GRAPH_BASE"],
        microsoft_ca_bundle=Path(env["MICROSOFT_CA_BUNDLE"]),
    )


# --- the OAuth dance --------------------------------------------------------------------------


def test_allow_connects_through_msal_and_the_first_sync_runs(live: LiveStack) -> None:
    token = new_user(live)
    with live.api(token) as api:
        auth_url = api.get("/calendar/microsoft/connect").json()["authUrl"]
    query = query_of(auth_url)
    assert query["code_challenge_method"] == "S256" and query["nonce"]
    assert {"User.Read", "Calendars.ReadWrite", "offline_access"} <= set(query["scope"].split())
    _connect(live, token)
    [row] = integrations(live, token)
    assert (row["provider"], row["account_email"], row["status"]) == (
        "microsoft",
        OUTLOOK_ACCOUNT,
        "active",
    )
    stored = _integration(live)
    assert stored.refresh_token and stored.access_token
    assert live.microsoft_stats()["token_requests"]["authorization_code"] == 1


# --- tokens -------------------------------------------------------------------------------------


def _refreshes(live: LiveStack) -> int:
    """Refreshes Microsoft answered for this test's calendar: the refresh tokens its grant was
    issued (the sandbox's reset forgot earlier tests' grants). Not the token-request counter:
    it also counts a refresh tried for an earlier test's calendar (a late push sync of it gets
    401, its tokens forgotten, and tries once before it asks to be connected again)."""
    with live.microsoft() as microsoft:
        accounts = microsoft.get("/accounts").json()["accounts"]
    [grant] = next(a for a in accounts if a["account"] == OUTLOOK_ACCOUNT)["grants"]
    return int(grant["refresh_tokens"])


def _due_for_refresh(live: LiveStack) -> tuple[str, CalendarIntegration, int]:
    """A connected clinician whose access token has expired: (their API token, the integration
    as it was, refreshes so far)."""
    token = new_user(live)
    _connect(live, token)
    before = _integration(live)
    # Only this calendar's: the worker may still sync earlier tests' calendars (a change pushed
    # by the provider); _refreshes counts only this calendar's grant.
    expire_access_tokens(live, before.id)
    return token, before, _refreshes(live)


def test_rotation_under_fifty_concurrent_callers_refreshes_once(live: LiveStack) -> None:
    _token, before, refreshes = _due_for_refresh(live)
    factory = sessionmaker(live.engine, expire_on_commit=False)
    settings = _settings(live)
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        tokens = list(
            pool.map(lambda _: access_token(factory, settings, before.id), range(CONCURRENT))
        )
    assert len(set(tokens)) == 1
    assert _refreshes(live) - refreshes == 1
    after = _integration(live)
    assert after.refresh_token != before.refresh_token  # the rotated token was kept


def _second_serve(live: LiveStack) -> str:
    """Another `proirp serve` on the same database and queue, as behind a load balancer; its
    URL. Only with a shared queue backend: the embedded SQLite queue is one process."""
    port = free_port()
    env = {**live.env, "SERVE_SANDBOX_TLS_PORT": str(free_port())}
    args = [str(BIN / "proirp"), "serve", "--port", str(port), "--no-embedded-worker"]
    process = Process("serve-2", args, env, live.tmp / "serve-2.log")
    process.start()
    live.processes["serve-2"] = process
    url = f"http://127.0.0.1:{port}"
    live.wait_healthy(f"{url}/healthz")
    return url


def test_fifty_concurrent_requests_share_one_refresh_and_four_slots(live: LiveStack) -> None:
    token, _before, refreshes = _due_for_refresh(live)
    with live.microsoft() as microsoft:
        microsoft.post("/config", json={"graph_hold_ms": 50}).raise_for_status()
    # With Redis or PostgreSQL as the queue, half the requests go to a second API process: the
    # mailbox's four slots are counted across both.
    urls = [live.app_url]
    if live.env["QUEUE_BACKEND"] != "sqlite":
        urls.append(_second_serve(live))

    def create(index: int) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=urls[index % len(urls)], headers=headers, timeout=30) as api:
            return api.post("/calendar/events", json=event_body("microsoft")).status_code

    try:
        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            answers = list(pool.map(create, range(CONCURRENT)))
    finally:
        if "serve-2" in live.processes:
            live.processes.pop("serve-2").stop()
    stats = live.microsoft_stats()
    assert answers == [201] * CONCURRENT, (Counter(answers), stats)
    assert _refreshes(live) - refreshes == 1, stats
    assert stats["max_in_flight"][OUTLOOK_ACCOUNT] == 4, stats  # never a fifth at once
    assert stats["concurrency_refused"] == 0, stats


def test_a_refresh_that_was_not_saved_is_done_again_with_the_old_token(live: LiveStack) -> None:
    _token, before, refreshes = _due_for_refresh(live)
    factory = sessionmaker(live.engine, expire_on_commit=False)
    failures = {"left": 1}

    def fail_once(session: Session) -> None:
        if failures["left"] and session.dirty:
            failures["left"] -= 1
            raise OperationalError("COMMIT", {}, Exception("disk full"))

    event.listen(factory, "before_commit", fail_once)
    fresh = access_token(factory, _settings(live), before.id)
    assert failures["left"] == 0
    # Microsoft answered twice: the first answer was lost, the old token worked again.
    assert _refreshes(live) - refreshes == 2
    after = _integration(live)
    assert after.access_token == fresh and after.refresh_token != before.refresh_token


# --- events and sync -----------------------------------------------------------------------------


def test_a_new_event_keeps_its_wall_clock_time_zone_at_microsoft(live: LiveStack) -> None:
    token = new_user(live)
    _connect(live, token)
    with live.api(token) as api:
        made = api.post("/calendar/events", json=event_body("microsoft"))
        assert made.status_code == 201, made.text
        listed = api.get("/calendar/events", params=next_days(7)).json()["events"]
    assert listed[0]["start"] == made.json()["event"]["start"]  # read back in UTC, the same
    with live.microsoft() as microsoft:
        [held] = microsoft.get("/events", params={"account": OUTLOOK_ACCOUNT}).json()["events"]
    assert held["start"]["timeZone"] == "America/Chicago"  # the wall-clock zone was kept


def test_full_delta_sync_pages_then_changes_removals_and_410(live: LiveStack) -> None:
    token = new_user(live)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    seeded = [
        {
            "subject": f"Session {i}",
            "start": {
                "dateTime": (start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "end": {
                "dateTime": (start + timedelta(hours=i, minutes=50)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
        }
        for i in range(1200)
    ]
    with live.microsoft() as microsoft:
        ids = microsoft.post("/events", json={"account": OUTLOOK_ACCOUNT, "events": seeded}).json()[
            "ids"
        ]
    _connect(live, token)
    assert cached(live, token) == 1200
    assert live.microsoft_stats()["delta_pages"] == 3  # 1,200 events in pages of 500
    with live.microsoft() as microsoft:
        microsoft.patch(f"/events/{ids[0]}", json={"subject": "Moved"}).raise_for_status()
        microsoft.delete(f"/events/{ids[1]}").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        assert api.post("/calendar/integrations/microsoft/sync").status_code == 202
    wait_for_sync(live, token, after=last)
    assert live.microsoft_stats()["delta_pages"] == 4  # one page of changes
    assert cached(live, token) == 1199
    with live.session() as session:
        titles = set(session.scalars(select(SyncedCalendarEvent.title)))
    assert "Moved" in titles
    with live.microsoft() as microsoft:
        microsoft.post("/expire-delta-tokens").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        api.post("/calendar/integrations/microsoft/sync")
    wait_for_sync(live, token, after=last)
    assert live.microsoft_stats()["delta_gone"] == 1
    assert cached(live, token) == 1199
    # This calendar's syncs: the first (full), then after the 410 a full one again. A periodic
    # sync of it may run meanwhile, but only ever an incremental one, so count the full ones.
    mine = _integration(live).id
    synced = [a for a in audits(live, "CALENDAR_SYNCED") if a["integration_id"] == mine]
    assert [a["full"] for a in synced].count(True) == 2


def test_throttling_is_waited_out_when_short_and_handed_back_when_long(live: LiveStack) -> None:
    token = new_user(live)
    _connect(live, token)
    with live.microsoft() as microsoft:
        microsoft.post(
            "/config", json={"throttle_next": 1, "retry_after_seconds": 1}
        ).raise_for_status()
    started = time.monotonic()
    with live.api(token) as api:
        assert api.post("/calendar/events", json=event_body("microsoft")).status_code == 201
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    with live.microsoft() as microsoft:
        microsoft.post(
            "/config", json={"throttle_next": 1, "retry_after_seconds": 120}
        ).raise_for_status()
    started = time.monotonic()
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=event_body("microsoft"))
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "calendar_unavailable"
    assert time.monotonic() - started < 10
    assert live.microsoft_stats()["throttled"] == 2


# --- disconnect and access ------------------------------------------------------------------------


def test_disconnect_deletes_keeps_history_and_says_how_to_remove_consent(live: LiveStack) -> None:
    token = new_user(live)
    _connect(live, token)
    client_id = new_client(live, token)
    with live.api(token) as api:
        api.post(
            "/calendar/events", json=event_body("microsoft", client_id=client_id)
        ).raise_for_status()
        answer = api.delete("/calendar/integrations/microsoft").json()
    assert (answer["ok"], answer["provider"], answer["revoked"]) == (True, "microsoft", False)
    assert "myapps.microsoft.com" in answer["message"]
    assert integrations(live, token) == []
    with live.session() as session:
        [link] = session.scalars(
            select(ClientCalendarEvent).where(ClientCalendarEvent.client_id == client_id)
        ).all()
        left = session.scalars(select(CalendarIntegration.id)).all()
    assert link.gone_at is not None and link.synced_event_id is None
    assert link.integration_id not in left
    assert audits(live, "CALENDAR_DISCONNECTED")[-1]["revoked"] is False


def test_a_throttled_sync_runs_again_once_retry_after_has_passed(live: LiveStack) -> None:
    token = new_user(live)
    _connect(live, token)
    # Longer than the ten seconds a call waits in place: the sync gives up and is rescheduled.
    with live.microsoft() as microsoft:
        microsoft.post(
            "/config", json={"throttle_next": 1, "retry_after_seconds": 11}
        ).raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        api.post("/calendar/integrations/microsoft/sync").raise_for_status()
    assert wait_until(lambda: integrations(live, token)[0]["last_error"] is not None, timeout=10)
    started = time.monotonic()
    wait_for_sync(live, token, after=last)  # no one asked again: the worker did, on its own
    assert time.monotonic() - started >= 5
    assert integrations(live, token)[0]["last_error"] is None
