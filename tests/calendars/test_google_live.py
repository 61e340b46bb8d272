"""Google Calendar end to end: the product's processes and the sandbox's Google over real HTTP,
through Google's own libraries: the OAuth dance, refresh, events, sync, disconnect."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.orm import sessionmaker

from proirp.audit.models import AuditLog
from proirp.calendars.models import (
    CalendarIntegration,
    ClientCalendarEvent,
)
from proirp.calendars.tokens import access_token
from proirp.clients.models import Client
from proirp.config import SANDBOX_GOOGLE_CLIENT_ID, SANDBOX_GOOGLE_CLIENT_SECRET
from proirp.kit.time import utcnow
from tests.calendars.dance import (
    ACCOUNT,
    connect,
    consent,
    integrations,
    query_of,
    wait_for_sync,
)
from tests.conftest import make_settings
from tests.live import LiveStack, create_user_with_token

CONCURRENT = 50


def _user(live: LiveStack, role: str = "clinician") -> str:
    _id, token = create_user_with_token(
        live.engine, email=f"{role}{utcnow().timestamp()}@clinic.example.com", role=role
    )
    return token


def _audits(live: LiveStack, action: str) -> list[dict[str, Any]]:
    with live.session() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == action))
        return [dict(row.details) for row in rows]


def _expire_access_token(live: LiveStack) -> None:
    with live.session() as session:
        session.execute(
            update(CalendarIntegration).values(token_expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()


def _event_body(**extra: Any) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {
        "provider": "google",
        "title": "Intake session",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "timeZone": "America/Chicago",
        **extra,
    }


def test_allow_connects_and_the_first_sync_runs(live: LiveStack) -> None:
    token = _user(live)
    answer = connect(live, token)
    assert answer.status_code == 303
    assert query_of(answer.headers["location"]) == {"provider": "google", "outcome": "connected"}
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


def test_deny_leaves_nothing_connected_and_is_audited(live: LiveStack) -> None:
    token = _user(live)
    with live.api(token) as api:
        back = consent(api.get("/calendar/google/connect").json()["authUrl"], decision="deny")
        assert query_of(back)["error"] == "access_denied"
        answer = api.get(back)
    assert query_of(answer.headers["location"])["outcome"] == "denied"
    assert integrations(live, token) == []
    assert any(
        a["reason"] == "the user denied access" for a in _audits(live, "CALENDAR_AUTH_FAILED")
    )


def test_a_replayed_callback_and_a_reused_code_are_refused(live: LiveStack) -> None:
    token = _user(live)
    with live.api(token) as api:
        back = consent(api.get("/calendar/google/connect").json()["authUrl"])
        assert api.get(back).status_code == 303
        replay = api.get(back)  # the same state again
        assert replay.status_code == 400
        assert "already used" in replay.json()["error"]["message"]
        # The same code under a fresh state: Google refuses a code it has already redeemed.
        fresh = query_of(api.get("/calendar/google/connect").json()["authUrl"])["state"]
        reused = api.get(
            "/calendar/google/callback", params={"code": query_of(back)["code"], "state": fresh}
        )
    assert query_of(reused.headers["location"])["outcome"] == "failed"
    assert live.google_stats()["token_rejected"] >= 1


def test_a_code_redeemed_with_another_verifier_fails_pkce(live: LiveStack) -> None:
    token = _user(live)
    with live.api(token) as api:
        first = api.get("/calendar/google/connect").json()["authUrl"]
        second = api.get("/calendar/google/connect").json()["authUrl"]
        code = query_of(consent(first))["code"]
        other_state = query_of(second)["state"]  # its verifier does not match the first challenge
        answer = api.get("/calendar/google/callback", params={"code": code, "state": other_state})
    assert query_of(answer.headers["location"])["outcome"] == "failed"
    assert integrations(live, token) == []


def test_create_links_a_client_and_lists_it_from_the_cache(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    with live.session() as session:
        client = Client(first_name="Avery", last_name="Quinn", timezone="America/Chicago")
        session.add(client)
        session.commit()
        client_id = client.id
    with live.api(token) as api:
        created = api.post("/calendar/events", json=_event_body(client_id=client_id))
        assert created.status_code == 201, created.text
        event = created.json()["event"]
        window = {
            "start": datetime.now(UTC).isoformat(),
            "end": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        }
        listed = api.get("/calendar/events", params=window).json()["events"]
    assert [(e["id"], e["title"], e["client_id"]) for e in listed] == [
        (event["id"], "Intake session", client_id)
    ]
    assert live.google_stats()["events_insert"] == 1
    assert _audits(live, "CALENDAR_EVENT_CREATED")[-1]["event_id"] == event["id"]


def test_an_expired_token_is_refreshed_once_for_fifty_concurrent_callers(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    wait_for_sync(live, token)
    with live.session() as session:
        integration_id = session.scalars(
            select(CalendarIntegration.id).order_by(CalendarIntegration.created_at.desc())
        ).first()
    assert integration_id
    _expire_access_token(live)
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


def test_fifty_concurrent_requests_share_one_refresh(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    wait_for_sync(live, token)  # the first sync's own token use is over
    _expire_access_token(live)
    before = live.google_stats()["token_refresh"]

    def create(_: int) -> int:
        with live.api(token) as api:  # a connection each, as separate browsers would have
            return api.post("/calendar/events", json=_event_body()).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(pool.map(create, range(CONCURRENT)))
    assert answers == [201] * CONCURRENT
    assert live.google_stats()["token_refresh"] - before == 1


def test_a_revoked_grant_needs_reauth_and_says_so(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    with live.google() as google:
        google.post("/revoke", json={"account": ACCOUNT}).raise_for_status()
    _expire_access_token(live)
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=_event_body())
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "calendar_needs_reauth"
    [row] = integrations(live, token)
    assert row["status"] == "needs_reauth" and "connect" in str(row["message"])
    assert any("invalid_grant" in a["reason"] for a in _audits(live, "CALENDAR_AUTH_FAILED"))


def _cached(live: LiveStack, token: str) -> int:
    """How many events the user's calendar shows (from the cache), over the sync window."""
    window = {
        "start": (datetime.now(UTC) - timedelta(days=29)).isoformat(),
        "end": (datetime.now(UTC) + timedelta(days=179)).isoformat(),
    }
    with live.api(token) as api:
        return len(api.get("/calendar/events", params=window).json()["events"])


def test_full_sync_pages_then_incremental_and_410(live: LiveStack) -> None:
    token = _user(live)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with live.google() as google:
        ids = google.post(
            "/events", json={"account": ACCOUNT, "count": 3000, "start": start.isoformat()}
        ).json()["ids"]
    connect(live, token)
    wait_for_sync(live, token)
    assert _cached(live, token) == 3000
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
    assert _cached(live, token) == 2999
    # A stale sync token: the cache is rebuilt by a full sync.
    with live.google() as google:
        google.post("/expire-sync-tokens").raise_for_status()
    last = integrations(live, token)[0]["last_synced_at"]
    with live.api(token) as api:
        api.post("/calendar/integrations/google/sync")
    wait_for_sync(live, token, after=last)
    assert live.google_stats()["full_sync_required"] == 1
    assert _cached(live, token) == 2999


def test_disconnect_revokes_deletes_and_keeps_appointments_as_history(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    with live.session() as session:
        client = Client(first_name="Avery", last_name="Quinn", timezone="America/Chicago")
        session.add(client)
        session.commit()
        client_id = client.id
    with live.api(token) as api:
        api.post("/calendar/events", json=_event_body(client_id=client_id)).raise_for_status()
        answer = api.delete("/calendar/integrations/google")
    assert answer.json() == {"ok": True, "provider": "google", "revoked": True}
    assert integrations(live, token) == []
    assert live.google_stats()["revoke"] == 1
    with live.session() as session:
        [link] = session.scalars(
            select(ClientCalendarEvent).where(ClientCalendarEvent.client_id == client_id)
        ).all()
    assert link.gone_at is not None and link.synced_event_id is None
    assert _audits(live, "CALENDAR_DISCONNECTED")[-1]["revoked"] is True


def test_users_see_only_their_own_calendars(live: LiveStack) -> None:
    alice, bob = _user(live), _user(live)
    connect(live, alice)
    with live.api(alice) as api:
        api.post("/calendar/events", json=_event_body()).raise_for_status()
    window = {
        "start": datetime.now(UTC).isoformat(),
        "end": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
    }
    with live.api(bob) as api:
        assert api.get("/calendar/events", params=window).json()["events"] == []
        assert api.delete("/calendar/integrations/google").status_code == 404
    with live.api(alice) as api:
        assert len(api.get("/calendar/events", params=window).json()["events"]) == 1
    assert isinstance(httpx, object)


def test_a_provider_outage_is_a_503_to_retry_not_a_refusal(live: LiveStack) -> None:
    token = _user(live)
    connect(live, token)
    wait_for_sync(live, token)
    with live.google() as google:
        google.post("/config", json={"fail_next": 1, "fail_status": 503}).raise_for_status()
    with live.api(token) as api:
        answer = api.post("/calendar/events", json=_event_body())
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "calendar_unavailable"
        assert api.post("/calendar/events", json=_event_body()).status_code == 201
