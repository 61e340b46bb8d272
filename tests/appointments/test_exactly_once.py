"""Two senders racing over the same due reminders (two threads, each its own connection, on the
suite's database: PostgreSQL in CI) hand each to comms exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.appointments.models import Reminder
from proirp.appointments.planner import plan_reminders
from proirp.appointments.sender import send_due
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.db import transaction
from proirp.kit.time import set_clock
from tests.appointments.conftest import MONDAY, appointment, sms_client
from tests.comms.rows import own_database
from tests.factories import create_user

CLIENTS = 40


@pytest.fixture
def factory(tmp_path: Path, app: FastAPI) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path) as made:
        yield made


def test_two_racing_senders_queue_each_reminder_once(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    start = MONDAY + timedelta(days=1, hours=4)
    with set_clock(MONDAY) as clock:
        with transaction(factory) as session:
            clinician = create_user(session, role="clinician")
            for _ in range(CLIENTS):
                appointment(session, sms_client(session), clinician, start)
            plan_reminders(session, settings=settings)
        clock.advance(timedelta(hours=4))  # every 24-hour reminder is due
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def sender() -> None:
            try:
                barrier.wait()
                for _ in range(3):  # each runs more than once, too
                    with transaction(factory) as session:
                        send_due(session, settings, limit=15)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    with factory() as session:
        queued = session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.status == "queued")
        )
        messages = session.scalars(select(Communication.client_id)).all()
    assert queued == CLIENTS
    assert len(messages) == CLIENTS and len(set(messages)) == CLIENTS
