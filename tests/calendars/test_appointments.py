"""Appointments in-process: linking and unlinking a client, the appointment following its event
through a sync (moved, cancelled), the plain `GET /calendar/events`, and the PHI rule for a
client's event text. The provider side (patch and delete at Google and Microsoft) is in
test_appointments_live.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.calendars import appointments
from proirp.calendars.event_text import check_event_text
from proirp.calendars.models import (
    CalendarIntegration,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.calendars.sync import _apply
from proirp.clients.access_models import CareTeamMember
from proirp.clients.models import Client
from proirp.config import Settings
from proirp.integrations.calendar import ProviderEvent
from proirp.kit.errors import Conflict, ValidationFailed
from proirp.kit.time import set_clock, utcnow
from tests.factories import Staff, create_client, create_staff

START = datetime(2030, 1, 15, 15, 0, tzinfo=UTC)


@pytest.fixture
def alice(db: Session) -> Staff:
    return create_staff(db, role="clinician")


@pytest.fixture
def integration(db: Session, alice: Staff) -> CalendarIntegration:
    row = CalendarIntegration(user_id=alice.user.id, provider="google", status="active")
    db.add(row)
    db.flush()
    return row


def _event(
    db: Session, integration: CalendarIntegration, start: datetime = START, name: str = "ev-1"
) -> SyncedCalendarEvent:
    row = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id=name,
        title="Session",
        start_at=start,
        end_at=start + timedelta(hours=1),
        etag='"1"',
    )
    db.add(row)
    db.flush()
    return row


def _on_team(db: Session, clinician: Staff, client: Client) -> Client:
    """`client`, on the clinician's care team (a clinician links only their own clients)."""
    db.add(CareTeamMember(client_id=client.id, user_id=clinician.user.id))
    db.flush()
    return client


def _actions(db: Session, action: str) -> list[AuditLog]:
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_link_then_unlink_a_synced_event(
    api: TestClient, db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    event, client = _event(db, integration), _on_team(db, alice, create_client(db))
    linked = api.post(
        f"/calendar/events/{event.id}/link", json={"client_id": client.id}, headers=alice.headers
    )
    assert linked.status_code == 201, linked.text
    appointment = linked.json()["appointment"]
    assert appointment["client_id"] == client.id and appointment["state"] == "scheduled"
    assert appointment["start"] == START.isoformat() and appointment["event_id"] == event.id
    [audit] = _actions(db, "APPOINTMENT_LINKED")
    assert audit.client_id == client.id and audit.actor_user_id == alice.user.id

    again = api.post(
        f"/calendar/events/{event.id}/link", json={"client_id": client.id}, headers=alice.headers
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_linked"
    window = {"start": "2030-01-15T00:00:00Z", "end": "2030-01-16T00:00:00Z"}
    [listed] = api.get("/calendar/events", params=window, headers=alice.headers).json()["events"]
    assert listed["client_id"] == client.id

    unlinked = api.delete(f"/calendar/events/{event.id}/link", headers=alice.headers)
    assert unlinked.status_code == 200, unlinked.text
    assert len(_actions(db, "APPOINTMENT_UNLINKED")) == 1
    [listed] = api.get("/calendar/events", params=window, headers=alice.headers).json()["events"]
    assert listed["client_id"] is None
    gone = api.delete(f"/calendar/events/{event.id}/link", headers=alice.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_linked"
    # Unlinked, the event can be linked again (to anyone).
    relinked = api.post(
        f"/calendar/events/{event.id}/link", json={"client_id": client.id}, headers=alice.headers
    )
    assert relinked.status_code == 201


def test_only_the_calendar_s_owner_links_and_only_to_a_real_client(
    api: TestClient, db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    event, client = _event(db, integration), create_client(db)
    bob = create_staff(db, role="clinician")
    foreign = api.post(
        f"/calendar/events/{event.id}/link", json={"client_id": client.id}, headers=bob.headers
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "event_not_found"
    nobody = api.post(
        f"/calendar/events/{event.id}/link", json={"client_id": "nobody"}, headers=alice.headers
    )
    assert nobody.status_code == 422 and "client_id" in nobody.json()["error"]["fields"]
    empty = api.post(f"/calendar/events/{event.id}/link", json={}, headers=alice.headers)
    assert empty.status_code == 422 and "client_id" in str(empty.json()["error"]["fields"])
    assert db.scalars(select(ClientCalendarEvent)).all() == []


def _linked(db: Session, integration: CalendarIntegration, alice: Staff) -> ClientCalendarEvent:
    event, client = _event(db, integration), create_client(db)
    link = ClientCalendarEvent(
        client_id=client.id,
        user_id=alice.user.id,
        integration_id=integration.id,
        synced_event_id=event.id,
        provider="google",
        provider_event_id=event.provider_event_id,
        start_at=event.start_at,
        end_at=event.end_at,
    )
    db.add(link)
    db.flush()
    return link


def test_a_move_found_by_sync_moves_the_appointment_and_is_audited(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)
    later = START + timedelta(days=1, hours=2)
    moved = ProviderEvent(
        id="ev-1", status="confirmed", start_at=later, end_at=later + timedelta(hours=1)
    )
    _apply(db, integration.id, [moved], None)
    db.refresh(link)
    assert (link.start_at, link.state) == (later, "moved")
    [audit] = _actions(db, "APPOINTMENT_MOVED")
    assert audit.client_id == link.client_id and audit.actor_user_id is None
    assert audit.details["appointment_id"] == link.id
    # The same time again (a later sync) is not another move.
    _apply(db, integration.id, [moved], None)
    assert len(_actions(db, "APPOINTMENT_MOVED")) == 1


def test_a_cancel_found_by_sync_cancels_the_appointment(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)
    _apply(db, integration.id, [ProviderEvent(id="ev-1", status="cancelled")], None)
    db.refresh(link)
    assert link.state == "cancelled" and link.gone_at is not None
    [audit] = _actions(db, "APPOINTMENT_CANCELLED")
    assert audit.client_id == link.client_id and audit.details["by"] == "provider"
    assert db.get(SyncedCalendarEvent, link.synced_event_id or "") is None


def test_an_event_missing_from_a_full_sync_cancels_its_appointment(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)
    _apply(db, integration.id, [], utcnow() + timedelta(seconds=5))
    db.refresh(link)
    assert link.state == "cancelled"
    assert len(_actions(db, "APPOINTMENT_CANCELLED")) == 1


def test_plain_get_events_answers_the_next_seven_days(
    api: TestClient, db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    now = utcnow().replace(microsecond=0)  # the clock is set: the token must still be valid
    for name, days in (("past", -1), ("soon", 1), ("in-a-week", 6.9), ("later", 7.5)):
        _event(db, integration, now + timedelta(days=days), name)
    with set_clock(now):
        answer = api.get("/calendar/events", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert [e["provider_event_id"] for e in answer.json()["events"]] == ["soon", "in-a-week"]


@pytest.mark.parametrize("start", ["0.5", "1700000000", "2030-01-15", "2030-01-15T10:00:00"])
def test_start_and_end_are_iso_times_with_an_offset(
    api: TestClient, alice: Staff, start: str
) -> None:
    answer = api.get("/calendar/events", params={"start": start}, headers=alice.headers)
    assert answer.status_code == 422 and "start" in answer.json()["error"]["fields"]


@pytest.fixture
def patient(db: Session, alice: Staff) -> Client:
    return _on_team(db, alice, create_client(db, first_name="Rowan", last_name="Ellsworth"))


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("title", "Rowan E. follow-up"),
        ("title", "Ellsworth"),
        ("description", "Review ADHD meds"),
        ("description", "SSN 078-05-1120"),
        ("location", "+12025550143"),
        ("location", "(202) 555-0143"),
        ("location", "Avery.Quinn@example.com"),
    ],
)
def test_a_client_s_event_without_a_baa_names_nobody(
    api: TestClient,
    db: Session,
    alice: Staff,
    integration: CalendarIntegration,
    patient: Client,
    field: str,
    text: str,
) -> None:
    body = {
        "provider": "google",
        "title": "Appointment",
        "start": "2030-01-15T10:00:00Z",
        "end": "2030-01-15T11:00:00Z",
        "client_id": patient.id,
        field: text,
    }
    answer = api.post("/calendar/events", json=body, headers=alice.headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "phi_without_baa" and list(error["fields"]) == [field]
    assert "Rowan" not in answer.text and "Ellsworth" not in answer.text
    assert "0143" not in answer.text and "1120" not in answer.text and "@" not in answer.text
    assert db.scalars(select(SyncedCalendarEvent)).all() == []


def test_with_a_baa_or_without_a_client_the_text_goes_as_typed(
    settings: Settings, patient: Client
) -> None:
    with pytest.raises(ValidationFailed):
        check_event_text(settings, "microsoft", patient, title="Rowan Ellsworth")
    baa = settings.model_copy(update={"google_workspace_baa": True, "microsoft_365_baa": True})
    check_event_text(baa, "google", patient, title="Rowan Ellsworth", description="ADHD")
    check_event_text(baa, "microsoft", patient, title="Rowan Ellsworth")
    check_event_text(settings, "google", None, title="Rowan Ellsworth: ADHD review")
    # An event's own time is not PHI in its calendar, nor its place in its location.
    check_event_text(settings, "google", patient, title="Appointment 10:00 on 1/15")
    check_event_text(settings, "google", patient, location="Suite 200, 120 Main Street")
    # The practice's own number is not the client's.
    check_event_text(settings, "google", patient, description="Call us at (202) 555-0100")


def test_the_database_holds_one_active_appointment_per_event(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)
    twin = ClientCalendarEvent(
        client_id=create_client(db).id,
        user_id=alice.user.id,
        integration_id=integration.id,
        provider="google",
        provider_event_id=link.provider_event_id,
    )
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(twin)
    link.unlinked_at = utcnow()  # once unlinked, the event can have another
    db.flush()
    with db.begin_nested():
        db.add(twin)


def test_two_links_racing_for_one_event_give_one_409(
    db: Session, alice: Staff, integration: CalendarIntegration, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = _event(db, integration)
    appointments.link(db, alice.user, event, create_client(db), "google")
    # The other request checked before this one's link existed.
    monkeypatch.setattr(appointments, "link_of", lambda *_args: None)
    with pytest.raises(Conflict) as refused:
        appointments.link(db, alice.user, event, create_client(db), "google")
    assert refused.value.code == "already_linked"


def test_a_full_sync_leaves_events_outside_its_window_alone(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)  # in 2030: beyond the window below
    now = utcnow()
    window = (now - timedelta(days=30), now + timedelta(days=180))
    _apply(db, integration.id, [], now + timedelta(seconds=5), window)
    db.refresh(link)
    assert link.state == "scheduled" and link.gone_at is None
    assert db.get(SyncedCalendarEvent, link.synced_event_id or "") is not None


def test_a_listing_older_than_the_cached_event_does_not_undo_a_change_made_here(
    db: Session, alice: Staff, integration: CalendarIntegration
) -> None:
    link = _linked(db, integration, alice)
    event = db.get(SyncedCalendarEvent, link.synced_event_id or "")
    assert event is not None
    event.provider_updated_at = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)  # our PATCH's answer
    db.flush()
    stale = ProviderEvent(
        id="ev-1",
        status="confirmed",
        start_at=START - timedelta(days=1),
        end_at=START - timedelta(days=1) + timedelta(hours=1),
        updated_at=datetime(2030, 1, 10, 11, 0, tzinfo=UTC),
    )
    _apply(db, integration.id, [stale], None)
    db.refresh(link)
    assert (link.start_at, link.state) == (START, "scheduled")
    assert _actions(db, "APPOINTMENT_MOVED") == []


@pytest.mark.parametrize(
    "params", [{"start": "9999-12-30T00:00:00Z"}, {"end": "0001-01-02T00:00:00Z"}]
)
def test_a_time_at_the_edge_of_the_calendar_is_a_422(
    api: TestClient, alice: Staff, params: dict[str, str]
) -> None:
    answer = api.get("/calendar/events", params=params, headers=alice.headers)
    assert answer.status_code == 422 and list(params) == list(answer.json()["error"]["fields"])
