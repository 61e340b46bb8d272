"""A migrated database of a test module's own, and message rows written straight into it, for
tests that drive dispatch, reconciliation and status events in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.keys import ChainKeyring, install_chain_keyring
from proirp.auth.models import User
from proirp.comms.models import Communication
from proirp.kit.crypto import Vault, install_vault
from proirp.kit.db import create_db_engine, new_id
from proirp.migrations.commands import upgrade
from tests.conftest import TEST_AUDIT_KEYS, TEST_KEYS
from tests.databases import fresh_database


def database_kind() -> str:
    """The suite's database: PostgreSQL when DATABASE_URL says so, else SQLite."""
    return "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


@contextmanager
def own_database(tmp: Path, kind: str | None = None) -> Iterator[sessionmaker[Session]]:
    """A fresh, migrated database of `kind` (the suite's by default) and a session factory."""
    with fresh_database(kind or database_kind(), tmp) as url:
        upgrade(url)
        install_vault(Vault(TEST_KEYS))
        install_chain_keyring(ChainKeyring(TEST_AUDIT_KEYS))  # what record_audit signs with
        engine = create_db_engine(url)
        yield sessionmaker(engine, expire_on_commit=False)
        engine.dispose()


def message_row(
    factory: sessionmaker[Session],
    *,
    channel: str = "sms",
    status: str = "queued",
    claimed_at: datetime | None = None,
) -> Communication:
    """One message of a new staff user's, committed as it would be when `status` was reached."""
    with factory() as session:
        user = User(email=f"u{new_id()}@clinic.example.com", role="staff", password_hash="x")
        session.add(user)
        session.flush()
        sms = channel == "sms"
        comm = Communication(
            user_id=user.id,
            channel=channel,
            to_address="+12025550143" if sms else "avery@example.com",
            subject=None if sms else "Office hours",
            body="Please call our office.",
            provider="twilio" if sms else "sendgrid",
            status=status,
            claimed_at=claimed_at,
        )
        session.add(comm)
        session.commit()
        return comm
