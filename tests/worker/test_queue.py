"""The queue: jobs leave only after commit, the embedded consumer runs them, backends by setting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from huey.storage import PostgresStorage, RedisStorage, SqliteStorage
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from proirp.worker.after_commit import enqueue_after_commit
from proirp.worker.consumer import start_embedded_consumer
from proirp.worker.periodic import PERIODIC_JOBS, verify_audit_chain_nightly
from proirp.worker.queue import _storage_for, huey
from tests.conftest import make_settings
from tests.databases import services_required

seen: list[str] = []
consumed = threading.Event()


@huey.task(name="tests.remember")
def remember(value: str) -> None:
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
    enqueue_after_commit(fresh_session, remember, "after-commit")
    assert "after-commit" not in _pending_values()
    fresh_session.commit()
    assert "after-commit" in _pending_values()


def test_job_is_dropped_on_rollback(fresh_session: Session) -> None:
    enqueue_after_commit(fresh_session, remember, "rolled-back")
    fresh_session.rollback()
    fresh_session.commit()
    assert "rolled-back" not in _pending_values()


def test_embedded_consumer_runs_jobs(fresh_session: Session) -> None:
    enqueue_after_commit(fresh_session, remember, "consumed")
    fresh_session.commit()
    consumer = start_embedded_consumer(workers=1)
    try:
        assert consumed.wait(timeout=15), "the embedded consumer did not run the job"
    finally:
        consumer.stop(graceful=True)
    assert "consumed" in seen


def test_periodic_jobs_are_registered() -> None:
    assert "audit.verify_chain" in PERIODIC_JOBS


def test_nightly_chain_check_reports_an_intact_chain() -> None:
    with capture_logs() as logs:
        verify_audit_chain_nightly.call_local()
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
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if services_required():
            pytest.fail(f"Redis unreachable ({type(exc).__name__}) and PROIRP_REQUIRE_SERVICES=1")
        pytest.skip(f"no Redis server reachable ({type(exc).__name__})")
    storage = RedisStorage(name="proirp-test-roundtrip", url="redis://127.0.0.1:6379/0")
    storage.flush_queue()
    storage.enqueue(b"payload")
    assert storage.dequeue() == b"payload"
