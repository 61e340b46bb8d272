"""Google Calendar end to end: the product's processes and the sandbox's Google over real HTTP,
through Google's own libraries: the OAuth dance, refresh, events, sync, disconnect."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from proirp.calendars.models import (
    CalendarIntegration,
    ClientCalendarEvent,
)
from proirp.calendars.tokens import access_token
from proirp.config.sandbox_credentials import SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET
from tests.calendars.dance import (
    ACCOUNT,
    audits,
    cached,
    connect,
    event_body,
    expire_access_tokens,
    integrations,
    new_client,
    new_user,
    query_of,
    wait_for_sync,
)
from tests.conftest import make_settings
from tests.live import LiveStack

CONCURRENT = 50


def test_allow_connects_and_the_first_sync_runs(live: LiveStack) -> None:
    token = new_user(live)
    answer = connect(live, token)
    assert answer.status_code == 303
    assert query_of(answer.headers["location"]) == {"provider": "google", "outcome": "connected"}
    assert answer.headers["location"].startswith("/app/settings?")  # the UI's Settings page
    [row] = integrations(live, token)
    assert (row["provider"], row["account_email"], row["status"]) == ("google", ACCOUNT, "active")
    assert not any("token" in key for key in row)
    wait_for_sync(live, token)
    stats = live.google_stats()
    assert (stats["token_exchange"], stats["consent_allowed"]) == (1, 1)
    with live.session() as session:
        stored = session.scalars(select(CalendarIntegration)).all()[-1]
        raw = session.execute(
            text("SELECT refresh_token FROM calendar_integrations WHERE id = :id"),
            {"id": stored.id},
        ).scalar_one()
    assert stored.refresh_token and raw != stored.refresh_token  # encrypted at rest


def test_an_expired_token_is_refreshed_once_for_fifty_concurrent_callers(live: LiveStack) -> None:
    token = new_user(live)
    connect(live, token)
    wait_for_sync(live, token)
    with live.session() as session:
        integration_id = session.scalars(
            select(CalendarIntegration.id).order_by(CalendarIntegration.created_at.desc())
        ).first()
    assert integration_id
    expire_access_tokens(live, integration_id)  # this calendar's only: others may sync meanwhile
    before = live.google_stats()["token_refresh"]
    settings = make_settings(
        live.tmp,
        database_url=live.database_url,
        google_client_id=SANDBOX_GOOGLE_CLIENT_ID,
        google_client_secret=SANDBOX_GOOGLE_CLIENT_SECRET,
        google_oauth_base=f"{live.sandbox_url}/google/oauth",
        google_api_base=f"{live.sandbox_url}/google/api",
    )
    factory = sessionmaker(live.engine, expire_on_commit=False)
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        tokens = list(
            pool.map(lambda _: access_token(factory, settings, integration_id), range(CONCURRENT))
        )
    assert len(set(tokens)) == 1
    assert live.google_stats()["token_refresh"] - before == 1


def test_full_sync_pages_then_incremental_and_410(live: LiveStack) -> None:
    token = new_user(live)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with live.google() as google:
        ids = google.post(
            "/events", json={"account": ACCOUNT, "count": 3000, "start": start.isoformat()}
        ).json()["ids"]
    connect(live, token)
    wait_for_sync(live, token)
    assert cached(live, token) == 3000
    stats = live.google_stats()
    assert stats["events_list"] == 2  # 3,000 events: two pages of up to 2,500
    # Changes on Google's side: one edited, one cancelled.
    with live.google() as google:
        google.patch(f"/events/{ids[0]}", json={"summary": "Moved"}).raise_for_status()
        google.delete(f"/events/{ids[1]}").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        assert api.post("/calendar/integrations/google/sync").status_code == 202
    wait_for_sync(live, token, after=last)
    assert live.google_stats()["events_list"] == 3  # one call for the changes
    assert cached(live, token) == 2999
    # A stale sync token: the cache is rebuilt by a full sync.
    with live.google() as google:
        google.post("/expire-sync-tokens").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        api.post("/calendar/integrations/google/sync")
    wait_for_sync(live, token, after=last)
    assert live.google_stats()["full_sync_required"] == 1
    assert cached(live, token) == 2999


def test_disconnect_revokes_deletes_and_keeps_appointments_as_history(live: LiveStack) -> None:
    token = new_user(live)
    connect(live, token)
    client_id = new_client(live, token)
    with live.api(token) as api:
        api.post(
            "/calendar/events", json=event_body("google", client_id=client_id)
        ).raise_for_status()
        answer = api.delete("/calendar/integrations/google")
    assert answer.json() == {"ok": True, "provider": "google", "revoked": True}
    assert integrations(live, token) == []
    assert live.google_stats()["revoke"] == 1
    with live.session() as session:
        [link] = session.scalars(
            select(ClientCalendarEvent).where(ClientCalendarEvent.client_id == client_id)
        ).all()
    assert link.gone_at is not None and link.synced_event_id is None
    assert audits(live, "CALENDAR_DISCONNECTED")[-1]["revoked"] is True
