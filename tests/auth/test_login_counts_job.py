"""The worker forgets login counts whose window has ended (they count nothing, and guesses at
many addresses or accounts leave many rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, select

from proirp import runtime
from proirp.auth.models import LoginCounter
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import run_job
from proirp.worker.queue import huey


def test_the_worker_forgets_counts_whose_window_has_ended(app: FastAPI) -> None:
    hour_41 = datetime(2026, 1, 1, 5, 41, tzinfo=UTC)
    assert "auth.forget_login_counts" in {task.name for task in huey.read_periodic(hour_41)}

    ended, live = f"test:{uuid.uuid4().hex}", f"test:{uuid.uuid4().hex}"
    factory = runtime.current().session_factory
    with transaction(factory) as session:
        session.add(LoginCounter(key=ended, hits=3, window_ends_at=utcnow()))
        session.add(LoginCounter(key=live, hits=3, window_ends_at=utcnow() + timedelta(hours=1)))
    try:
        run_job("auth.forget_login_counts")
        with transaction(factory) as session:
            keys = set(session.scalars(select(LoginCounter.key)))
        assert live in keys
        assert ended not in keys
    finally:
        with transaction(factory) as session:
            session.execute(delete(LoginCounter).where(LoginCounter.key == live))
