"""GET /clients/{id}/appointments (an audited read) and PATCH /appointments/{id}."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.appointments.conftest import appointment, plan, sms_client
from tests.factories import Staff


def _on_the_calendar(db: Session, clinician: User, row: ClientCalendarEvent) -> SyncedCalendarEvent:
    """`row`'s event as the calendar's sync cached it."""
    integration = CalendarIntegration(user_id=clinician.id, provider="google", status="active")
    db.add(integration)
    db.flush()
    event = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id=row.provider_event_id,
        start_at=row.start_at,
        end_at=row.end_at,
    )
    db.add(event)
    db.flush()
    row.integration_id, row.synced_event_id = integration.id, event.id
    db.flush()
    return event


def test_a_clients_appointments_with_their_reminders(
    api: TestClient, db: Session, clinician: User, staff: Staff, settings: Settings
) -> None:
    now = utcnow()  # the real clock: the staff member's token is valid now
    client = sms_client(db)
    past = appointment(db, client, clinician, now - timedelta(days=2))
    upcoming = appointment(db, client, clinician, now + timedelta(days=3))
    cached = _on_the_calendar(db, clinician, upcoming)
    plan(db, settings)
    answer = api.get(f"/clients/{client.id}/appointments", headers=staff.headers)
    assert answer.status_code == 200, answer.text
    found = answer.json()["appointments"]
    assert [a["id"] for a in found] == [past.id, upcoming.id]
    assert [a["state"] for a in found] == ["completed", "scheduled"]
    assert found[0]["reminders"] == []
    assert [r["rule"] for r in found[1]["reminders"]] == ["sms-1440m", "sms-120m"]
    assert found[1]["reminders"][0]["status"] == "pending"
    # event_id is our cached event's id (as /calendar/events/{id} takes it); null once it is gone.
    assert (found[1]["event_id"], found[1]["provider_event_id"]) == (
        cached.id,
        upcoming.provider_event_id,
    )
    assert (found[0]["event_id"], found[0]["provider_event_id"]) == (None, past.provider_event_id)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "APPOINTMENTS_VIEWED")).one()
    assert (audit.client_id, audit.actor_user_id) == (client.id, staff.user.id)


def test_staff_turn_reminders_off_and_confirm(
    api: TestClient, db: Session, clinician: User, staff: Staff
) -> None:
    appt = appointment(db, sms_client(db), clinician, utcnow() + timedelta(days=1))
    appt.state = "needs_attention"
    db.flush()
    answer = api.patch(
        f"/appointments/{appt.id}",
        json={"reminders_enabled": False, "state": "confirmed"},
        headers=staff.headers,
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()["appointment"]
    assert (changed["state"], changed["reminders_enabled"]) == ("confirmed", False)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "APPOINTMENT_CHANGED")).one()
    assert audit.details["changed"] == ["reminders_enabled", "state"]


def test_unknown_ids_and_bad_states_are_refused(
    api: TestClient, db: Session, clinician: User, staff: Staff
) -> None:
    missing = api.get("/clients/nope/appointments", headers=staff.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    nothing = api.patch("/appointments/nope", json={"state": "confirmed"}, headers=staff.headers)
    assert nothing.status_code == 404 and nothing.json()["ok"] is False
    appt = appointment(db, sms_client(db), clinician, utcnow() + timedelta(days=1))
    bad = api.patch(f"/appointments/{appt.id}", json={"state": "cancelled"}, headers=staff.headers)
    assert bad.status_code == 422 and "state" in bad.json()["error"]["fields"]
