"""Migration 0032: staff accounts' email addresses already there are encrypted in place, found
again by their keyed hashes (a sign-in finds its account, case aside) and kept one an account.
Without the vault it refuses and changes nothing; going back is refused while there are
accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.auth.models import User
from proirp.auth.repository import all_users, user_by_email
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database, stored

BEFORE, AFTER = "0031", "0032"
ADMIN, CLINICIAN = "rivera.admin@clinic.example.com", "okafor.clinician@clinic.example.com"
USER = (
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at)"
    " VALUES (:id, :email, 'x', :role, true, :at, :at)"
)
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, timezone, sms_consent, email_consent,"
    " reminders_opt_out, created_at, updated_at) VALUES ('c', :first, :last, 'America/Chicago',"
    " false, false, false, :at, :at)"
)


def _fill(url: str) -> None:
    vault, now = current_vault(), utcnow()
    engine = create_db_engine(url)
    with engine.begin() as conn:
        first, last = vault.encrypt("Marisol"), vault.encrypt("Okafor")
        conn.execute(text(CLIENT), {"first": first, "last": last, "at": now})  # the keys' check
        for uid, email, role in (("a" * 32, ADMIN, "admin"), ("b" * 32, CLINICIAN, "clinician")):
            conn.execute(text(USER), {"id": uid, "email": email, "role": role, "at": now})
    engine.dispose()


def _stored(url: str) -> str:
    return stored(url, "users")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_addresses_there_are_encrypted_and_found_again(
    kind: str, tmp_path: Path, app: FastAPI
) -> None:
    """(`app`: the product started, with its vault.)"""
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        with pytest.raises(RuntimeError, match=r"staff accounts' email.*proirp db upgrade"):
            upgrade(url)
        before = _stored(url)  # nothing half-done: the revision before, the addresses as they were
        assert before.startswith(BEFORE) and ADMIN in before
        upgrade(url, vault=current_vault())
        stored = _stored(url)
        for part in (ADMIN, CLINICIAN, "rivera", "clinic.example"):
            assert part not in stored
        engine = create_db_engine(url)
        with Session(bind=engine) as session:
            found = user_by_email(session, ADMIN.upper())
            assert found is not None and (found.id, found.email) == ("a" * 32, ADMIN)
            assert [u.email for u in all_users(session)] == sorted([ADMIN, CLINICIAN])
            assert user_by_email(session, "nobody@clinic.example.com") is None
            # One account an address, as before: the hash is unique.
            session.add(User(email=CLINICIAN, role="staff", password_hash="x"))
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_accounts_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, AFTER)
        command.downgrade(alembic_config(url), BEFORE)
        assert _stored(url) == BEFORE
        upgrade(url, AFTER)
        assert _stored(url).startswith(AFTER)
