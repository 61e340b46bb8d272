"""The calendar and the reminders together: a move or a cancellation found by the calendar's sync
(as Google or Outlook reported it) reschedules or cancels the appointment's pending reminders at
the next planning run, and a reminder already sent is never sent again."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.calendars.models import (
    CalendarIntegration,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.calendars.sync import _apply
from proirp.clients.models import Client
from proirp.config import Settings
from proirp.integrations.calendar import ProviderEvent
from proirp.kit.time import set_clock
from tests.appointments.conftest import (
    MONDAY,
    appointment,
    messages_to,
    plan,
    reminders_of,
    send,
    sms_client,
)


def _on_calendar(
    db: Session, clinician: User, start_in: timedelta
) -> tuple[CalendarIntegration, Client, ClientCalendarEvent]:
    """A client's appointment on the clinician's synced Google calendar."""
    integration = CalendarIntegration(user_id=clinician.id, provider="google", status="active")
    db.add(integration)
    db.flush()
    client = sms_client(db)
    row = appointment(db, client, clinician, MONDAY + start_in)
    row.integration_id = integration.id
    event = SyncedCalendarEvent(
        integration_id=integration.id,
        provider_event_id=row.provider_event_id,
        start_at=row.start_at,
        end_at=row.end_at,
    )
    db.add(event)
    db.flush()
    row.synced_event_id = event.id
    db.flush()
    return integration, client, row


def _start(row: ClientCalendarEvent) -> datetime:
    assert row.start_at is not None
    return row.start_at


def test_a_move_at_the_provider_reschedules_pending_reminders(
    db: Session, clinician: User, settings: Settings
) -> None:
    # Thursday noon in Chicago, moved to Friday 13:00: both reminders stay in waking hours.
    integration, _client, row = _on_calendar(db, clinician, timedelta(days=3, hours=6))
    with set_clock(MONDAY):
        plan(db, settings)
        before = [r.due_at for r in reminders_of(db, row)]
        later = _start(row) + timedelta(days=1, hours=1)
        moved = ProviderEvent(
            id=row.provider_event_id,
            status="confirmed",
            start_at=later,
            end_at=later + timedelta(minutes=50),
        )
        _apply(db, integration.id, [moved], None)
        plan(db, settings)
        after = reminders_of(db, row)
    assert [r.due_at for r in after] == [d + timedelta(days=1, hours=1) for d in before]
    assert {r.status for r in after} == {"pending"}


def test_a_cancel_at_the_provider_cancels_pending_reminders_and_nothing_is_sent(
    db: Session, clinician: User, settings: Settings
) -> None:
    integration, client, row = _on_calendar(db, clinician, timedelta(days=3))
    with set_clock(MONDAY) as clock:
        plan(db, settings)
        _apply(
            db, integration.id, [ProviderEvent(id=row.provider_event_id, status="cancelled")], None
        )
        plan(db, settings)
        assert {r.status for r in reminders_of(db, row)} == {"cancelled"}
        clock.advance(timedelta(days=3))
        send(db, settings)
    assert messages_to(db, client) == []


def test_a_reminder_sent_before_a_move_is_not_sent_again(
    db: Session, clinician: User, settings: Settings
) -> None:
    integration, client, row = _on_calendar(db, clinician, timedelta(hours=26))
    with set_clock(MONDAY) as clock:
        plan(db, settings)
        clock.advance(timedelta(hours=2, minutes=1))  # the 24-hour reminder is due
        send(db, settings)
        assert len(messages_to(db, client)) == 1
        later = _start(row) + timedelta(hours=1)
        moved = ProviderEvent(
            id=row.provider_event_id,
            status="confirmed",
            start_at=later,
            end_at=later + timedelta(minutes=50),
        )
        _apply(db, integration.id, [moved], None)
        plan(db, settings)
        clock.advance(timedelta(hours=1))
        send(db, settings)
    twenty_four = [r for r in reminders_of(db, row) if r.status == "queued"]
    assert len(twenty_four) == 1
    assert len(messages_to(db, client)) == 1


def test_a_reminder_waiting_in_the_queue_is_called_back_when_its_appointment_is_cancelled(
    db: Session, clinician: User, settings: Settings
) -> None:
    """Queued for sending but not yet sent (a worker down, a provider slow): the appointment's
    cancellation cancels the message too, so the client is not reminded of nothing."""
    integration, client, row = _on_calendar(db, clinician, timedelta(hours=26))
    with set_clock(MONDAY) as clock:
        plan(db, settings)
        clock.advance(timedelta(hours=2, minutes=1))
        send(db, settings)  # the 24-hour reminder is handed to comms: a queued message
        [message] = messages_to(db, client)
        assert message.status == "queued"
        cancelled = ProviderEvent(id=row.provider_event_id, status="cancelled")
        _apply(db, integration.id, [cancelled], None)
        plan(db, settings)
    db.expire_all()
    [message] = messages_to(db, client)
    assert message.status == "cancelled"
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "COMMUNICATION_CANCELLED")).one()
    assert audit.actor_user_id is None and audit.details["communication_id"] == message.id
