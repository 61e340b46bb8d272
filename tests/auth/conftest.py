"""Fixtures for the auth tests: callers that do not share throttle state, and users to sign in."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import proirp.audit.keys
import proirp.kit.crypto
from proirp import runtime
from proirp.auth.models import User
from proirp.migrations.commands import upgrade
from proirp.worker import jobs
from proirp.worker.queue import huey
from tests.conftest import TEST_AUDIT_KEYS, TEST_KEYS
from tests.databases import fresh_database
from tests.factories import create_user


def new_address() -> str:
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


@pytest.fixture
def api(api: TestClient, app: FastAPI) -> Iterator[TestClient]:
    """The shared `api` (same session, same fresh throttle), calling from an address of its own."""
    client = TestClient(app, raise_server_exceptions=False, client=(new_address(), 50000))
    yield client
    client.close()


Caller = Callable[[], TestClient]


@pytest.fixture
def caller(api: TestClient, app: FastAPI) -> Iterator[Caller]:
    """Makes clients like `api`, each calling from another address of its own."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, client=(new_address(), 50000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


NewUser = Callable[..., User]


@pytest.fixture
def new_user(db: Session) -> NewUser:
    """Make a user with an email no earlier run used (the throttle keys accounts by email)."""

    def make(*, role: str = "staff", active: bool = True) -> User:
        user = create_user(db, role=role, email=f"u{uuid.uuid4().hex[:16]}@clinic.example.com")
        user.is_active = active
        # Committed (to the test's savepoint) so a refused request's rollback cannot undo it.
        db.commit()
        return user

    return make


@dataclass
class _ProcessState:
    """What runtime.start() replaces process-wide: the runtime, vault, queue, jobs, logging and
    the audit chain keys."""

    current: runtime.Runtime | None
    vault: proirp.kit.crypto.Vault | None
    queue: tuple[Any, Any, Any]
    job_context: jobs.JobContext | None
    logging: dict[str, Any]
    chain_keyring: proirp.audit.keys.ChainKeyring | None

    @classmethod
    def capture(cls) -> _ProcessState:
        return cls(
            current=runtime._current,
            vault=proirp.kit.crypto._vault,
            queue=(huey.storage_class, huey.storage_kwargs, huey.storage),
            job_context=jobs._context,
            logging=dict(structlog.get_config()),
            chain_keyring=proirp.audit.keys._installed,
        )

    def restore(self) -> None:
        runtime._current = self.current
        proirp.kit.crypto._vault = self.vault
        huey.storage_class, huey.storage_kwargs, huey.storage = self.queue
        jobs._context = self.job_context
        proirp.audit.keys._installed = self.chain_keyring
        structlog.configure(**self.logging)


@pytest.fixture
def cli_database(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh migrated SQLite database that `proirp` commands run against; its URL.

    The commands call runtime.start(), which installs process-wide state; it is put back after,
    so the app the other tests share keeps its engine, vault, queue and log output.
    """
    saved = _ProcessState.capture()
    with fresh_database("sqlite", tmp_path) as url:
        upgrade(url)
        monkeypatch.chdir(tmp_path)  # no developer's .env is read
        monkeypatch.setenv("PROIRP_ENV", "test")
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("PROIRP_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PROIRP_ENCRYPTION_KEYS", ",".join(TEST_KEYS))
        monkeypatch.setenv("AUDIT_CHAIN_KEYS", ",".join(TEST_AUDIT_KEYS))
        try:
            yield url
        finally:
            started = runtime._current
            if started is not None and started is not saved.current:
                started.engine.dispose()
            saved.restore()
