"""Throw-away migrated databases for the audit chain tests, on SQLite and on PostgreSQL.

The main test database is one rolled-back transaction per test; the chain tests need real commits,
concurrent writers and tampering, so each of them gets a database of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from proirp import runtime
from proirp.audit import keys
from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import FileAnchorStore
from proirp.audit.chainer import chain_pending
from proirp.audit.keys import ChainKeyring, install_chain_keyring
from proirp.audit.models import AuditLog
from proirp.audit.service import record_audit
from proirp.audit.verify import ChainReport, verify_chain
from proirp.kit import crypto
from proirp.kit.db import create_db_engine, create_session_factory, transaction
from proirp.migrations.commands import upgrade
from proirp.worker import jobs
from proirp.worker.queue import huey
from tests.conftest import TEST_AUDIT_KEYS, TEST_KEYS
from tests.databases import fresh_database
from tests.s3_server import s3_server as s3_server  # the local S3 server, for the bucket's tests

KINDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class ChainDatabase:
    kind: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    # This database's anchors: a file of its own, as each installation has.
    anchors: FileAnchorStore


@pytest.fixture(params=KINDS)
def chain_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainDatabase]:
    """An empty, migrated database of each kind (PostgreSQL skips or fails via require_postgres),
    with the test chain keys installed for record_audit and verification."""
    kind: str = request.param
    saved_keyring = keys._installed
    install_chain_keyring(ChainKeyring(TEST_AUDIT_KEYS))
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_db_engine(url)
        anchors = FileAnchorStore(tmp_path / "anchors" / "audit")
        try:
            yield ChainDatabase(kind, url, engine, create_session_factory(engine), anchors)
        finally:
            engine.dispose()
            install_chain_keyring(saved_keyring)


def verify(db: ChainDatabase, **options: Any) -> ChainReport:
    """`verify_chain` on `db`, held to its anchors, once the rows written so far are chained."""
    chain_pending(db.sessions)
    with transaction(db.sessions) as session:
        return verify_chain(session, anchors=db.anchors, **options)


def write_rows(db: ChainDatabase, count: int = 5) -> list[int]:
    """`count` audit rows, each committed in its own transaction, then chained; returns their ids
    in order."""
    ids = []
    for n in range(count):
        with transaction(db.sessions) as session:
            row = record_audit(
                session,
                actor=f"user{n % 2}",
                action=AuditAction.CLIENT_VIEWED if n % 2 else AuditAction.CLIENT_UPDATED,
                client_id=f"client{n}",
                ip="203.0.113.7",
                user_agent="pytest/1.0",
                # Nesting, lists, floats and non-ASCII must survive the database round trip.
                details={"n": n, "fields": ["phone", "timezone"], "nested": {"ratio": 0.1, "é": n}},
            )
            ids.append(row.id)
    chain_pending(db.sessions)
    return ids


def all_rows(db: ChainDatabase) -> list[AuditLog]:
    with transaction(db.sessions) as session:
        return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def lift_append_only_guard(conn: Connection, kind: str) -> None:
    """Switch off the triggers guarding the log (UPDATE, DELETE, INSERT over a row), as an
    attacker with DDL rights could."""
    if kind == "postgres":
        conn.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
    else:
        for trigger in ("no_update", "no_delete", "no_insert_over", "no_insert_below"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS audit_logs_{trigger}"))


def tamper(db: ChainDatabase, *statements: Any) -> None:
    """Run `statements` (Core statements) against audit_logs with the guard lifted, and commit."""
    with db.engine.begin() as conn:
        lift_append_only_guard(conn, db.kind)
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def verify_command(
    chain_db: ChainDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A runner for `proirp` commands pointed at `chain_db` (its anchors too), leaving the test
    process as it found it.

    The command calls runtime.start(), which installs the vault, the queue storage, the jobs'
    context, the log output and the current runtime process-wide; all are put back afterwards so
    later tests keep the test app's (a logger left writing to this test's captured stderr fails
    the next test that logs).
    """
    process_wide = [
        (runtime, "_current"),
        (crypto, "_vault"),
        (jobs, "_context"),
        (keys, "_installed"),
    ]
    for module, name in process_wide:
        monkeypatch.setattr(module, name, getattr(module, name))
    for name in ("storage", "storage_class", "storage_kwargs"):
        monkeypatch.setattr(huey, name, getattr(huey, name))
    saved_runtime = runtime._current
    saved_logging = dict(structlog.get_config())

    monkeypatch.chdir(tmp_path)  # no developer .env can leak into the settings
    monkeypatch.setenv("DATABASE_URL", chain_db.url)
    monkeypatch.setenv("PROIRP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PROIRP_ENCRYPTION_KEYS", ",".join(TEST_KEYS))
    monkeypatch.setenv("AUDIT_CHAIN_KEYS", ",".join(TEST_AUDIT_KEYS))
    monkeypatch.setenv("AUDIT_ANCHOR_PATH", str(chain_db.anchors.path))
    monkeypatch.setenv("PROIRP_ENV", "test")
    monkeypatch.setenv("QUEUE_BACKEND", "sqlite")
    yield CliRunner()

    structlog.configure(**saved_logging)

    if runtime._current is not saved_runtime and runtime._current is not None:
        runtime._current.engine.dispose()  # before the throw-away database is dropped
