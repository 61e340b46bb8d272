"""Migration 0033: calendar accounts' email addresses already there are encrypted in place and
read back in clear by the product. Without the vault it refuses and changes nothing; going back
is refused while an account has an address."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from proirp.calendars.models import CalendarIntegration
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database, stored

BEFORE, AFTER = "0032", "0033"
ACCOUNT = "dr.rivera.calendar@gmail.example.com"
USER = (
    "INSERT INTO users (id, email, email_hash, password_hash, role, is_active, created_at,"
    " updated_at) VALUES ('u', :email, 'h', 'x', 'clinician', true, :at, :at)"
)
INTEGRATION = (
    "INSERT INTO calendar_integrations (id, user_id, provider, account_email, access_token,"
    " status, created_at, updated_at) VALUES ('i', 'u', 'google', :account, :token, 'active',"
    " :at, :at)"
)


def _stored(url: str) -> str:
    return stored(url, "calendar_integrations")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_addresses_there_are_encrypted_and_read_back(
    kind: str, tmp_path: Path, app: FastAPI
) -> None:
    """(`app`: the product started, with its vault.)"""
    vault = current_vault()
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=vault)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(USER), {"email": vault.encrypt("rivera@clinic.example.com"), "at": utcnow()}
            )
            token = vault.encrypt("ya29.token")
            conn.execute(text(INTEGRATION), {"account": ACCOUNT, "token": token, "at": utcnow()})
        with pytest.raises(RuntimeError, match=r"calendar accounts' email.*proirp db upgrade"):
            upgrade(url)
        assert ACCOUNT in _stored(url)  # nothing half-done
        upgrade(url, AFTER, vault=vault)
        stored = _stored(url)
        assert stored.startswith(AFTER) and "rivera" not in stored
        with Session(bind=engine) as session:
            assert session.get_one(CalendarIntegration, "i").account_email == ACCOUNT
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_addresses_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, AFTER)
        command.downgrade(alembic_config(url), BEFORE)
        assert _stored(url) == BEFORE
        upgrade(url, AFTER)
        assert _stored(url) == AFTER
