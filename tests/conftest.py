"""Shared fixtures: settings, a migrated database per test run, a rolled-back session per test,
and an API client whose requests share that session.

The main database follows DATABASE_URL: SQLite when it is unset, PostgreSQL when CI sets it.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from proirp import runtime
from proirp.app import create_app
from proirp.audit.keys import generate_chain_key
from proirp.auth.throttle import LoginThrottle
from proirp.config import Settings
from proirp.kit.deps import get_session
from proirp.migrations.commands import upgrade
from proirp.worker.queue import huey
from tests.databases import fresh_database

TEST_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
TEST_AUDIT_KEYS = [generate_chain_key(), generate_chain_key()]
# A queue of this run's own: runs on one machine share Redis, and must not take each other's jobs.
RUN_QUEUE = f"proirp-test-{uuid.uuid4().hex[:8]}"

# Every engine that has connected in this process. Tests build settings of their own, and the
# product keeps an engine per settings where it shares state across processes (the pace, the
# calendar slots); each keeps up to five idle connections, and over a whole run on PostgreSQL
# those add up to the server's limit (100). They are let go after each module.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _seen(connection: Connection) -> None:
    _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True, scope="module")
def _let_go_of_idle_connections() -> Iterator[None]:
    """Close the idle connections of every engine after a module (an engine still in use opens
    new ones when it needs them; connections checked out are left alone)."""
    yield
    for engine in list(_ENGINES):
        engine.dispose(close=True)


def make_settings(tmp_dir: Path, **overrides: object) -> Settings:
    """Settings for tests: never read the developer's .env file."""
    values: dict[str, object] = {
        "proirp_env": "test",
        "proirp_data_dir": tmp_dir,
        "proirp_encryption_keys": ",".join(TEST_KEYS),
        "audit_chain_keys": ",".join(TEST_AUDIT_KEYS),
        "queue_backend": os.environ.get("QUEUE_BACKEND", "sqlite"),
        "redis_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "practice_timezone": "America/Chicago",
        "queue_name": RUN_QUEUE,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    kind = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    with fresh_database(kind, tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("data"), database_url=database_url)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[FastAPI]:
    yield create_app(settings)
    huey.storage.flush_all()  # leave nothing of this run in a shared Redis


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> Engine:
    engine: Engine = runtime.current().engine
    return engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Commits inside the test (the request's commit included) only release a savepoint.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
            # Closed, not given back: the app's lifespan disposes the engine's pool when a test's
            # client stops, and a connection given back to a disposed pool stays open, idle,
            # until the garbage collector finds the pool (PostgreSQL allows 100 connections).
            connection.invalidate()


@pytest.fixture
def api(app: FastAPI, db: Session, settings: Settings) -> Iterator[TestClient]:
    """An HTTP client for the app; every request uses the test's session."""

    def test_session() -> Iterator[Session]:
        # What the test set up counts as committed before the request, as it would be for real,
        # so a request that fails and rolls back does not take the test's own data with it.
        db.commit()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    app.dependency_overrides[get_session] = test_session
    app.state.login_throttle = LoginThrottle(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.dependency_overrides.clear()
