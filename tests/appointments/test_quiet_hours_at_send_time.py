"""Quiet hours found by the sender (the due time was fine, the run came a little late): the
reminder is planned again for when they end, or skipped when that is after the start; and the
send job never loops over a batch that only went back to waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from proirp.appointments import tasks
from proirp.appointments.rules import put_rules
from proirp.appointments.schemas import RulesPut
from proirp.appointments.sender import BATCH, SendCounts
from proirp.appointments.timing import NO_ALLOWED_TIME
from proirp.audit.service import RequestOrigin
from proirp.auth.models import User
from proirp.config import Settings
from proirp.kit.time import set_clock
from proirp.worker.jobs import JobContext
from tests.appointments.conftest import (
    MONDAY,
    appointment,
    messages_to,
    plan,
    reminders_of,
    send,
    sms_client,
)

CHICAGO_9_PM = MONDAY + timedelta(hours=15)  # Monday 21:00 in Chicago: quiet hours begin


def _only_rule(db: Session, user: User, offset_minutes: int) -> None:
    body = RulesPut.model_validate(
        {"rules": [{"offset_minutes": offset_minutes, "channel": "sms"}]}
    )
    put_rules(db, body, user_id=user.id, origin=RequestOrigin())


def test_quiet_at_send_time_moves_the_reminder_to_when_quiet_hours_end(
    db: Session, clinician: User, settings: Settings
) -> None:
    start = CHICAGO_9_PM + timedelta(days=1, minutes=-2)  # Tuesday 20:58 in Chicago
    tuesday_8_am = MONDAY + timedelta(days=1, hours=2)  # 08:00 in Chicago
    with set_clock(MONDAY) as clock:
        _only_rule(db, clinician, 24 * 60)
        client = sms_client(db)
        appt = appointment(db, client, clinician, start)
        plan(db, settings)
        [reminder] = reminders_of(db, appt)
        assert reminder.due_at == start - timedelta(hours=24)  # 20:58: not quiet yet
        clock.advance(CHICAGO_9_PM + timedelta(minutes=2) - MONDAY)  # the run comes at 21:02
        assert send(db, settings).outcomes == {"after_quiet_hours": 1}
        [reminder] = reminders_of(db, appt)
        assert (reminder.status, reminder.due_at) == ("pending", tuesday_8_am)
        clock.advance(timedelta(hours=2))  # past the old due time's grace: no expiry now
        assert send(db, settings).expired == 0
        clock.advance(tuesday_8_am - clock.now())
        assert send(db, settings).outcomes == {"queued": 1}
    assert len(messages_to(db, client)) == 1


def test_quiet_at_send_time_with_no_time_left_before_the_start_is_skipped(
    db: Session, clinician: User, settings: Settings
) -> None:
    start = MONDAY + timedelta(days=1, hours=1)  # Tuesday 07:00 in Chicago
    with set_clock(MONDAY) as clock:
        _only_rule(db, clinician, 120)
        client = sms_client(db)
        appt = appointment(db, client, clinician, start)
        plan(db, settings)
        [reminder] = reminders_of(db, appt)
        assert reminder.due_at == CHICAGO_9_PM - timedelta(minutes=1)  # 20:59, before quiet
        clock.advance(CHICAGO_9_PM + timedelta(minutes=1) - MONDAY)  # the run comes at 21:01
        assert send(db, settings).outcomes == {"skipped": 1}
    [reminder] = reminders_of(db, appt)
    assert (reminder.status, reminder.reason) == ("skipped", NO_ALLOWED_TIME)
    assert messages_to(db, client) == []


def test_the_send_job_stops_when_a_full_batch_queued_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []

    def all_waiting(session: Session, settings: Settings) -> SendCounts:
        runs.append(1)
        if len(runs) > 3:
            raise AssertionError("the job keeps claiming the same batch")
        counts = SendCounts()
        counts.outcomes["after_quiet_hours"] = BATCH
        return counts

    monkeypatch.setattr(tasks, "send_due", all_waiting)
    tasks.send_due_reminders(JobContext(settings, sessionmaker()))
    assert len(runs) == 1


def test_the_send_job_goes_on_while_full_batches_are_sent(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = [BATCH, BATCH, 3]

    def sent(session: Session, settings: Settings) -> SendCounts:
        counts = SendCounts()
        counts.outcomes["queued"] = batches.pop(0)
        return counts

    monkeypatch.setattr(tasks, "send_due", sent)
    tasks.send_due_reminders(JobContext(settings, sessionmaker()))
    assert batches == []
