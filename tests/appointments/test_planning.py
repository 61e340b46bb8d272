"""The planner: one reminder per appointment and enabled rule, reconciled from the appointment
rows each run (moved, cancelled, turned off, opted out), idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder
from proirp.auth.models import User
from proirp.clients.models import Client
from proirp.config import Settings
from proirp.kit.time import set_clock
from tests.appointments.conftest import MONDAY, appointment, plan, reminders_of, sms_client

TUESDAY_10_CHICAGO = MONDAY + timedelta(days=1, hours=4)  # 16:00 UTC


def test_each_enabled_rule_gets_one_reminder(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        appt = appointment(db, sms_client(db), clinician, TUESDAY_10_CHICAGO)
        plan(db, settings)
        plan(db, settings)  # again: nothing more
        rows = reminders_of(db, appt)
    assert [(r.channel, r.due_at, r.status) for r in rows] == [
        ("sms", TUESDAY_10_CHICAGO - timedelta(hours=24), "pending"),
        ("sms", TUESDAY_10_CHICAGO - timedelta(hours=2), "pending"),
    ]
    total = db.scalar(select(func.count()).select_from(Reminder))
    assert total == 2


def test_a_moved_appointment_moves_its_pending_reminders(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        appt = appointment(db, sms_client(db), clinician, TUESDAY_10_CHICAGO)
        plan(db, settings)
        first = {r.id for r in reminders_of(db, appt)}
        appt.start_at = TUESDAY_10_CHICAGO + timedelta(hours=3)
        appt.state = "moved"
        db.flush()
        plan(db, settings)
        rows = reminders_of(db, appt)
    assert {r.id for r in rows} == first  # the same rows, planned again
    assert [r.due_at for r in rows] == [
        appt.start_at - timedelta(hours=24),
        appt.start_at - timedelta(hours=2),
    ]


def test_cancelled_gone_unlinked_disabled_and_opted_out_get_none(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        appts = [appointment(db, sms_client(db), clinician, TUESDAY_10_CHICAGO) for _ in range(5)]
        plan(db, settings)
        appts[0].state = "cancelled"
        appts[1].gone_at = MONDAY
        appts[2].unlinked_at = MONDAY
        appts[3].reminders_enabled = False
        client = db.get(Client, appts[4].client_id)
        assert client is not None
        client.reminders_opt_out = True
        db.flush()
        plan(db, settings)
        statuses = [{r.status for r in reminders_of(db, a)} for a in appts]
        reasons = [reminders_of(db, a)[0].reason for a in appts]
    assert statuses == [{"cancelled"}] * 5
    assert reasons[0] == "The appointment was cancelled."
    assert reasons[4] == "The client opted out of reminders."
    with set_clock(MONDAY):
        appts[3].reminders_enabled = True  # turned back on: planned again
        db.flush()
        plan(db, settings)
        assert {r.status for r in reminders_of(db, appts[3])} == {"pending"}


def test_an_opted_out_client_never_gets_rows(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        client = sms_client(db)
        client.reminders_opt_out = True
        appt = appointment(db, client, clinician, TUESDAY_10_CHICAGO)
        plan(db, settings)
        assert reminders_of(db, appt) == []


def test_a_tokyo_client_is_reminded_outside_tokyo_quiet_hours(
    db: Session, clinician: User, settings: Settings
) -> None:
    start = MONDAY.replace(hour=23) + timedelta(days=1)  # 08:00 Wednesday in Tokyo
    with set_clock(MONDAY):
        appt = appointment(db, sms_client(db, timezone="Asia/Tokyo"), clinician, start)
        plan(db, settings)
        rows = reminders_of(db, appt)
    # 24 h before is 08:00 Tuesday in Tokyo (allowed); 2 h before is 06:00 (quiet): 20:59 on
    # Tuesday evening in Tokyo, 11:59 UTC.
    assert [r.due_at for r in rows] == [
        start - timedelta(hours=24),
        start.replace(hour=11, minute=59),
    ]


def test_booked_too_late_for_a_rule_is_skipped_with_the_reason(
    db: Session, clinician: User, settings: Settings
) -> None:
    with set_clock(MONDAY):
        appt = appointment(db, sms_client(db), clinician, MONDAY + timedelta(hours=6))
        plan(db, settings)
        rows = reminders_of(db, appt)
    assert [(r.status, r.reason is not None) for r in rows] == [
        ("skipped", True),
        ("pending", False),
    ]
