"""The planner and the sender on the same reminder: the planner changes only what it read, so a
reminder the sender queued in between is never put back to pending (and never sent twice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.appointments import repository
from proirp.audit.models import AuditLog
from proirp.auth.models import User
from proirp.config import Settings
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

START = MONDAY + timedelta(days=1, hours=4)  # Tuesday 10:00 in Chicago


def test_a_reminder_queued_between_the_planners_read_and_its_update_stays_queued(
    db: Session, clinician: User, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    update = repository.update_reminders

    def sender_runs_first(session: Session, rows: list[dict[str, Any]]) -> int:
        # The planner has read the reminder (pending, old start); the sender's recheck sees the
        # move, sends it now and marks it queued; only then does the planner's UPDATE arrive.
        assert send(session, settings).outcomes == {"queued": 1}
        return update(session, rows)

    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4, minutes=1))  # the 24-hour reminder is due
        appt.start_at = START - timedelta(minutes=5)  # moved a little earlier: still due now
        db.flush()
        monkeypatch.setattr(repository, "update_reminders", sender_runs_first)
        plan(db, settings)
        monkeypatch.setattr(repository, "update_reminders", update)
        clock.advance(timedelta(minutes=1))
        assert send(db, settings).claimed == 0  # the next minute: nothing to claim again
    first, second = reminders_of(db, appt)
    assert first.status == "queued"
    assert (second.status, second.start_at) == ("pending", appt.start_at)  # planned again
    assert len(messages_to(db, client)) == 1
    stmt = select(AuditLog).where(AuditLog.action == "REMINDERS_PLANNED").order_by(AuditLog.id)
    planned = db.scalars(stmt).all()
    assert planned[-1].details["replanned"] == 1  # only the one it could still change


def test_cancelling_never_touches_a_queued_reminder(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY) as clock:
        client = sms_client(db)
        appt = appointment(db, client, clinician, START)
        plan(db, settings)
        clock.advance(timedelta(hours=4))
        send(db, settings)
        appt.state = "cancelled"
        db.flush()
        plan(db, settings)
    assert [r.status for r in reminders_of(db, appt)] == ["queued", "cancelled"]
    assert len(messages_to(db, client)) == 1
