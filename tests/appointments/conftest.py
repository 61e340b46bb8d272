"""Appointments in a test's own session: a clinician, clients who agreed to SMS, appointments
linked to them, and the reminder jobs' work run in-process with the clock set by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder
from proirp.appointments.planner import plan_reminders
from proirp.appointments.sender import SendCounts, send_due
from proirp.auth.models import User
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.models import Client
from proirp.comms.models import Communication
from proirp.config import Settings
from tests.factories import Staff, create_client, create_staff, create_user

_serial = count(1)
# A Monday at noon UTC (07:00 in Chicago, 21:00 in Tokyo): tests set the clock here or near.
MONDAY = datetime(2030, 1, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def clinician(db: Session) -> User:
    return create_user(db, role="clinician")


@pytest.fixture
def admin(db: Session) -> Staff:
    return create_staff(db, role="admin")


@pytest.fixture
def staff(db: Session) -> Staff:
    return create_staff(db, role="staff")


def sms_client(db: Session, *, timezone: str = "America/Chicago", **fields: Any) -> Client:
    """A client who agreed to SMS, with a number of their own."""
    client = create_client(
        db, phone=f"+1202555{next(_serial) % 10000:04d}", timezone=timezone, **fields
    )
    client.sms_consent = True
    client.sms_consent_source = "intake form"
    db.flush()
    return client


def appointment(
    db: Session, client: Client, user: User, start: datetime, *, minutes: int = 50
) -> ClientCalendarEvent:
    row = ClientCalendarEvent(
        client_id=client.id,
        user_id=user.id,
        provider="google",
        provider_event_id=f"evt{next(_serial)}",
        start_at=start,
        end_at=start + timedelta(minutes=minutes),
    )
    db.add(row)
    db.flush()
    return row


def reminders_of(db: Session, appointment: ClientCalendarEvent) -> list[Reminder]:
    db.expire_all()
    stmt = select(Reminder).where(Reminder.appointment_id == appointment.id)
    return sorted(db.scalars(stmt), key=lambda r: r.due_at)


def plan(db: Session, settings: Settings) -> None:
    plan_reminders(db, settings=settings)


def send(db: Session, settings: Settings) -> SendCounts:
    counts = send_due(db, settings)
    db.expire_all()
    return counts


def messages_to(db: Session, client: Client) -> list[Communication]:
    stmt = select(Communication).where(Communication.client_id == client.id)
    return list(db.scalars(stmt.order_by(Communication.created_at)))
