"""Two workers running `notices.send` at once (two threads, each its own connection, on the
suite's database: PostgreSQL in CI), both sure nothing was sent yet: each notice goes once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars.models import CalendarIntegration
from proirp.comms.models import Campaign, Communication, Purpose
from proirp.config import Settings
from proirp.kit.db import transaction
from proirp.kit.time import set_clock, utcnow
from proirp.notices import repository
from proirp.notices.models import StaffNotice
from tests.comms.rows import own_database
from tests.factories import create_user
from tests.notices.conftest import MONDAY, run_notices

CALENDARS = 10


@pytest.fixture
def factory(tmp_path: Path, app: FastAPI) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path) as made:
        yield made


def test_two_racing_workers_send_each_notice_once(
    factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each worker read before the other committed anything: only the claim can tell them apart.
    monkeypatch.setattr(repository, "sent_keys", lambda *_args: set())
    with set_clock(MONDAY):
        with transaction(factory) as session:
            for _ in range(CALENDARS):
                user = create_user(session, role="clinician")
                session.add(
                    CalendarIntegration(
                        user_id=user.id,
                        provider="google",
                        status="needs_reauth",
                        needs_reauth_since=utcnow() - timedelta(minutes=1),
                    )
                )
            sender = create_user(session)
            campaign = Campaign(
                channel="email", created_by_user_id=sender.id, total=1, fanned_out_at=utcnow()
            )
            session.add(campaign)
            session.flush()
            session.add(
                Communication(
                    campaign_id=campaign.id,
                    user_id=sender.id,
                    channel="email",
                    to_address="someone@example.com",
                    body="x",
                    status="failed",
                )
            )
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                barrier.wait()
                run_notices(factory, settings)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    with factory() as session:
        stmt = select(Communication).where(Communication.purpose == Purpose.STAFF_NOTICE)
        emails = session.scalars(stmt).all()
        notices = session.scalars(select(StaffNotice)).all()
    assert len(emails) == CALENDARS + 1
    assert len({email.to_address for email in emails}) == CALENDARS + 1
    assert {n.communication_id for n in notices} == {email.id for email in emails}
