"""Reconciling an email left `sending`: never while its call may still be waiting for SendGrid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from proirp.comms.email.dispatch import reconcile_email
from proirp.comms.models import Communication
from proirp.config import Settings
from proirp.kit.time import utcnow
from tests.comms.rows import message_row, own_database
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("reconcile")) as factory:
        yield factory


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, send_timeout_seconds=2, reconcile_after_seconds=4)


def _sending(factory: sessionmaker[Session], claimed_seconds_ago: float) -> str:
    claimed_at = utcnow() - timedelta(seconds=claimed_seconds_ago)
    return message_row(factory, channel="email", status="sending", claimed_at=claimed_at).id


def _status(factory: sessionmaker[Session], comm_id: str) -> str:
    with factory() as session:
        comm = session.get(Communication, comm_id)
        assert comm is not None
        return comm.status


def test_the_sweeper_leaves_a_batch_whose_call_may_still_be_running(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    # Claimed 10 s ago: past RECONCILE_AFTER_SECONDS, but a 1,000-recipient call may wait
    # SEND_TIMEOUT_SECONDS + 10 ms per recipient (12 s) for SendGrid's answer.
    comm_id = _sending(factory, 10)
    reconcile_email(factory, settings, comm_id, call_finished=False)
    assert _status(factory, comm_id) == "sending"


def test_after_the_longest_call_it_becomes_unknown(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    comm_id = _sending(factory, 17)
    reconcile_email(factory, settings, comm_id, call_finished=False)
    assert _status(factory, comm_id) == "unknown"


def test_a_call_that_ended_without_an_answer_is_settled_at_once(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    comm_id = _sending(factory, 6)
    reconcile_email(factory, settings, comm_id, call_finished=True)
    assert _status(factory, comm_id) == "unknown"
