"""A backlog larger than one round of the sweeper's batch (a Redis that lost every waiting job
mid-campaign, a database restart that failed every job then running): one round sends all of it
on its way again, not one batch a minute (5,000 emails took five minutes to go)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from proirp.comms import tasks as sweeper
from proirp.kit.time import Clock, utcnow
from proirp.worker.jobs import JobContext
from tests.comms.rows import message_row, own_database
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def factory(
    tmp_path_factory: pytest.TempPathFactory, app: FastAPI
) -> Iterator[sessionmaker[Session]]:
    with own_database(tmp_path_factory.mktemp("sweep-backlog")) as factory:
        yield factory


def _sent_to(swept: list[tuple[str, tuple[Any, ...]]], job: str) -> list[str]:
    return [args[0] for name, args in swept if name == job]


def test_one_round_sends_a_backlog_larger_than_its_batch_on_its_way(
    factory: sessionmaker[Session],
    clock: Clock,
    swept: list[tuple[str, tuple[Any, ...]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sweeper, "SWEEP_BATCH", 3)
    queued = {message_row(factory).id for _ in range(7)}
    claimed = {message_row(factory, status="sending", claimed_at=utcnow()).id for _ in range(5)}
    clock.advance(timedelta(minutes=5))

    sweeper.sweep(JobContext(make_settings(tmp_path), factory))

    requeued = _sent_to(swept, "comms.deliver_sms")
    assert sorted(requeued) == sorted(queued)  # each once
    reconciling = _sent_to(swept, "comms.reconcile")
    assert sorted(reconciling) == sorted(claimed)
