"""/calendar in-process: bad input, the OAuth state's rules, and who sees what. Nothing here
reaches a provider (the end-to-end dance is in test_google_live.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.calendars.models import CalendarIntegration, OAuthState
from proirp.calendars.oauth import _hash, start_connect
from proirp.calendars.schemas import EventCreate
from proirp.kit.errors import ServiceUnavailable
from proirp.kit.input import NUL_REFUSED
from proirp.kit.time import utcnow
from tests.conftest import make_settings
from tests.factories import Staff, create_staff
from tests.live import free_port


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


@pytest.fixture
def bob(db: Session) -> Staff:
    return create_staff(db, role="clinician")


def _state(db: Session, owner: Staff, *, used: bool = False, expired: bool = False) -> str:
    state = f"state-{owner.user.id}-{used}-{expired}"
    now = utcnow()
    db.add(
        OAuthState(
            state_hash=_hash(state),
            user_id=owner.user.id,
            provider="google",
            code_verifier="v" * 64,
            created_at=now,
            expires_at=now - timedelta(minutes=1) if expired else now + timedelta(minutes=10),
            used_at=now if used else None,
        )
    )
    db.flush()
    return state


def _failures(db: Session) -> list[str]:
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "CALENDAR_AUTH_FAILED"))
    return [str(row.details["reason"]) for row in rows]


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("missing", "the callback carried no state"),
        ("forged", "the state is not one this server issued"),
        ("foreign", "the state belongs to another user"),
        ("reused", "the state was already used"),
        ("expired", "the state has expired"),
    ],
)
def test_a_callback_with_a_bad_state_is_refused_and_audited(
    api: TestClient, db: Session, alice: Staff, bob: Staff, how: str, reason: str
) -> None:
    state = {
        "missing": None,
        "forged": "made-up-state",
        "foreign": _state(db, bob),
        "reused": _state(db, alice, used=True),
        "expired": _state(db, alice, expired=True),
    }[how]
    params = {"code": "a-code"} | ({"state": state} if state else {})
    response = api.get(
        "/calendar/google/callback", params=params, headers=alice.headers, follow_redirects=False
    )
    # The browser goes back to Settings, which says so; the reason is in the audit log.
    assert response.status_code == 303
    assert response.headers["location"] == "/app/settings?provider=google&outcome=refused"
    assert _failures(db) == [reason]
    assert db.scalar(select(CalendarIntegration)) is None


def test_an_unknown_provider_is_refused(api: TestClient, alice: Staff) -> None:
    response = api.get("/calendar/yahoo/connect", headers=alice.headers)
    assert response.status_code == 422
    assert "provider" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "end"),
        ({"start": "2030-01-01T00:00:00", "end": "2030-01-02T00:00:00Z"}, "start"),
        (
            {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "provider": "x"},
            "provider",
        ),
    ],
)
def test_listing_events_with_bad_input_is_refused(
    api: TestClient, alice: Staff, query: dict[str, str], field: str
) -> None:
    response = api.get("/calendar/events", params=query, headers=alice.headers)
    assert response.status_code == 422
    assert any(field in key for key in response.json()["error"]["fields"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2030-01-01T09:00:00Z"}, "end"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"provider": "yahoo"}, "provider"),
        ({"client_id": "nobody"}, "client_id"),
        ({"start": "2030-01-01T10:00:00"}, "start"),  # no offset and no timeZone to read it in
        ({}, "provider"),  # not connected
    ],
)
def test_creating_an_event_with_bad_input_reaches_no_provider(
    api: TestClient, alice: Staff, change: dict[str, str], field: str
) -> None:
    body = {
        "provider": "google",
        "title": "Session",
        "start": "2030-01-01T10:00:00Z",
        "end": "2030-01-01T11:00:00Z",
    } | change
    response = api.post("/calendar/events", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert any(field in key for key in response.json()["error"]["fields"]), response.json()


def test_only_an_admin_sees_a_colleague_s_integrations(
    api: TestClient, db: Session, alice: Staff, bob: Staff
) -> None:
    db.add(CalendarIntegration(user_id=alice.user.id, provider="google", status="active"))
    db.flush()
    own = api.get("/calendar/integrations", headers=alice.headers).json()["integrations"]
    assert [i["provider"] for i in own] == ["google"]
    assert "access_token" not in own[0] and "refresh_token" not in own[0]
    assert api.get("/calendar/integrations", headers=bob.headers).json()["integrations"] == []
    peek = api.get(f"/calendar/integrations?user_id={alice.user.id}", headers=bob.headers)
    assert peek.status_code == 403
    admin = create_staff(db, role="admin")
    seen = api.get(f"/calendar/integrations?user_id={alice.user.id}", headers=admin.headers)
    assert [i["provider"] for i in seen.json()["integrations"]] == ["google"]


def test_wall_clock_times_are_read_in_the_event_s_time_zone() -> None:
    event = EventCreate.model_validate(
        {
            "provider": "microsoft",
            "title": "Session",
            "start": "2026-12-01T09:00:00",
            "end": "2026-12-01T09:50:00",
            "timeZone": "America/Chicago",
        }
    )
    assert event.start == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert event.end - event.start == timedelta(minutes=50)


def test_an_admin_asking_for_an_unknown_colleague_gets_404(api: TestClient, db: Session) -> None:
    admin = create_staff(db, role="admin")
    answer = api.get("/calendar/integrations?user_id=nobody", headers=admin.headers)
    assert answer.status_code == 404


def test_connecting_while_the_provider_is_unreachable_is_a_503_to_retry(
    db: Session, alice: Staff, tmp_path: Path
) -> None:
    closed = free_port()  # nothing listens there
    settings = make_settings(
        tmp_path,
        microsoft_client_id="app-id",
        microsoft_client_secret="app-secret",
        microsoft_authority=f"https://127.0.0.1:{closed}/common",
    )
    with pytest.raises(ServiceUnavailable) as refused:
        start_connect(db, alice.user, "microsoft", settings)
    assert refused.value.code == "calendar_unavailable"
    assert db.scalars(select(OAuthState)).all() == []


@pytest.mark.parametrize(
    "zone", ["America", "Etc", "../../etc/passwd", "", "A" * 5000, "America/Chicago\x00"]
)
def test_an_event_in_a_bad_time_zone_is_a_422(api: TestClient, alice: Staff, zone: str) -> None:
    body = {
        "provider": "google",
        "title": "Session",
        "start": "2030-01-01T10:00:00",
        "end": "2030-01-01T11:00:00",
        "timeZone": zone,
    }
    response = api.post("/calendar/events", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert fields["timeZone"] in {  # never the name given
        "not an IANA time zone, e.g. America/Chicago",
        "String should have at most 64 characters",
        NUL_REFUSED,
    }
