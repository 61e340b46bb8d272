"""The queue: jobs by name leave only after commit, the embedded consumer runs them, backends by
setting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from huey.registry import Message
from huey.storage import PostgresStorage, RedisStorage, SqliteStorage
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from proirp.worker.after_commit import enqueue_after_commit
from proirp.worker.consumer import start_embedded_consumer
from proirp.worker.jobs import JobContext, enqueue, job, run_job
from proirp.worker.queue import _storage_for, huey
from tests.conftest import make_settings
from tests.databases import require_redis

seen: list[str] = []
consumed = threading.Event()


@job("tests.remember")
def remember(ctx: JobContext, value: str) -> None:
    assert isinstance(ctx, JobContext)
    seen.append(value)
    if value == "consumed":
        consumed.set()


def _pending_values() -> list[str]:
    return [task.args[0] for task in huey.pending() if task.name == "tests.remember"]


@pytest.fixture
def fresh_session(engine: Engine) -> Iterator[Session]:
    """A real session (not the test's savepoint one), so commit and rollback are real."""
    with Session(engine) as session:
        yield session


def test_job_is_sent_only_after_commit(fresh_session: Session) -> None:
    enqueue_after_commit(fresh_session, "tests.remember", "after-commit")
    assert "after-commit" not in _pending_values()
    fresh_session.commit()
    assert "after-commit" in _pending_values()


def test_job_is_dropped_on_rollback(fresh_session: Session) -> None:
    enqueue_after_commit(fresh_session, "tests.remember", "rolled-back")
    fresh_session.rollback()
    fresh_session.commit()
    assert "rolled-back" not in _pending_values()


def test_embedded_consumer_runs_jobs(fresh_session: Session) -> None:
    enqueue_after_commit(fresh_session, "tests.remember", "consumed")
    fresh_session.commit()
    consumer = start_embedded_consumer(workers=1)
    try:
        assert consumed.wait(timeout=15), "the embedded consumer did not run the job"
    finally:
        consumer.stop(graceful=True)
    assert "consumed" in seen


def test_an_unknown_job_is_refused_before_the_commit(fresh_session: Session) -> None:
    with pytest.raises(LookupError, match="deliver_smss"):
        enqueue_after_commit(fresh_session, "comms.deliver_smss", "c1")


def test_a_delayed_job_waits_in_the_schedule(app: FastAPI) -> None:
    enqueue("tests.remember", "later", delay=3600)
    queued = [t for t in huey.pending() if t.name == "tests.remember" and t.args == ("later",)]
    # The consumer holds a job with an eta in the future back until then.
    assert [t.eta > datetime.now(UTC).replace(tzinfo=None) for t in queued] == [True]


def test_periodic_jobs_are_registered(app: FastAPI) -> None:
    due = {task.name for task in huey.read_periodic(datetime(2026, 1, 1, 3, 15, tzinfo=UTC))}
    assert {"comms.sweep", "calendars.sync_all", "audit.anchor_head"} <= due
    nightly = {task.name for task in huey.read_periodic(datetime(2026, 1, 1, 3, 17, tzinfo=UTC))}
    assert "audit.verify_chain" in nightly


def test_a_job_queued_by_an_earlier_release_still_runs_here(app: FastAPI) -> None:
    # Huey keys a queued job by "<module>.<name>"; these are the keys releases before jobs by
    # name wrote, so a queue that outlives an upgrade still resolves.
    for key, name in [
        ("proirp.comms.tasks.comms.deliver_sms", "comms.deliver_sms"),
        ("proirp.comms.tasks.comms.reconcile_email", "comms.reconcile_email"),
        ("proirp.calendars.tasks.calendars.sync", "calendars.sync"),
    ]:
        message = Message("job-1", key, None, 0, 0, None, ("an-id",), {})
        assert huey.deserialize_task(huey.serializer.serialize(message)).name == name


def test_nightly_chain_check_reports_an_intact_chain(app: FastAPI) -> None:
    with capture_logs() as logs:
        run_job("audit.verify_chain")
    assert any(entry["event"] == "audit.chain_intact" for entry in logs)


def test_storage_follows_queue_backend(tmp_path: Path) -> None:
    sqlite_cls, sqlite_kwargs = _storage_for(make_settings(tmp_path, queue_backend="sqlite"))
    assert sqlite_cls is SqliteStorage
    assert sqlite_kwargs["filename"] == str(tmp_path / "queue.db")

    redis_cls, redis_kwargs = _storage_for(
        make_settings(tmp_path, queue_backend="redis", redis_url="redis://10.1.2.3:6379/2")
    )
    assert redis_cls is RedisStorage
    assert redis_kwargs == {"url": "redis://10.1.2.3:6379/2"}

    pg_settings = make_settings(
        tmp_path,
        queue_backend="postgres",
        database_url="postgresql+psycopg://proirp:pw@db.internal:5432/proirp",
    )
    pg_cls, pg_kwargs = _storage_for(pg_settings)
    assert pg_cls is PostgresStorage
    assert pg_kwargs["dsn"] == "postgresql://proirp:pw@db.internal:5432/proirp"


def test_redis_storage_round_trip() -> None:
    require_redis("redis://127.0.0.1:6379/0")
    storage = RedisStorage(name="proirp-test-roundtrip", url="redis://127.0.0.1:6379/0")
    storage.flush_queue()
    storage.enqueue(b"payload")
    assert storage.dequeue() == b"payload"


def test_a_job_carries_its_request_s_id_delayed_too_and_the_next_job_not(app: FastAPI) -> None:
    """The request id goes with a job queued now or later; a job on the same thread afterwards
    logs without it, even when Huey skipped the unbinding after the first (some errors do)."""
    with structlog.contextvars.bound_contextvars(request_id="r-789"):
        enqueue("tests.remember", "now-with-id")
        enqueue("tests.remember", "later-with-id", delay=3600)
    enqueue("tests.remember", "without-id")
    tasks = {t.args[0]: t for t in huey.pending() if t.name == "tests.remember"}
    assert tasks["now-with-id"].kwargs == {"request_id": "r-789"}
    assert tasks["later-with-id"].kwargs == {"request_id": "r-789"}
    assert not tasks["without-id"].kwargs

    structlog.contextvars.clear_contextvars()
    try:
        huey._run_pre_execute(tasks["now-with-id"])
        assert structlog.contextvars.get_contextvars() == {
            "job": "tests.remember",
            "request_id": "r-789",
        }
        huey._run_pre_execute(tasks["without-id"])  # the first was never unbound
        assert structlog.contextvars.get_contextvars() == {"job": "tests.remember"}
        huey._run_post_execute(tasks["without-id"], None, None)
        assert structlog.contextvars.get_contextvars() == {}
    finally:
        structlog.contextvars.clear_contextvars()
