"""Migration 0029 (dates of birth encrypted): clients' dates of birth already there are encrypted
in place with the vault `proirp db upgrade` passes and read back as dates; without the vault, or
going back while any client has one, it refuses and changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.clients.models import Client
from proirp.kit.crypto import Vault, current_vault
from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database

BEFORE = "0028"
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, timezone, sms_consent, email_consent,"
    " reminders_opt_out, date_of_birth, created_at, updated_at) VALUES (:id, :first, :last,"
    " 'America/Chicago', false, false, false, :born, :at, :at)"
)
BORN = {"a" * 32: date(1987, 3, 14), "b" * 32: None, "c" * 32: date(2001, 12, 31)}


def _fill(url: str) -> None:
    vault = current_vault()
    engine = create_db_engine(url)
    with engine.begin() as conn:
        for cid, born in BORN.items():
            conn.execute(
                text(CLIENT),
                {
                    "id": cid,
                    "first": vault.encrypt("Marisol"),
                    "last": vault.encrypt("Okafor"),
                    "born": born,
                    "at": "2026-11-01 09:00:00+00:00",
                },
            )
    engine.dispose()


def _stored(url: str) -> str:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT date_of_birth FROM clients")).scalars().all()
        revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    engine.dispose()
    return "\n".join([str(revision), *(str(v) for v in rows)])


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_dates_there_are_encrypted_in_place(kind: str, tmp_path: Path, db: Session) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        with pytest.raises(RuntimeError, match=r"dates of birth.*proirp db upgrade"):
            upgrade(url)
        before = _stored(url)  # nothing half-done: the revision before, the dates as they were
        assert before.startswith(BEFORE) and "1987-03-14" in before
        upgrade(url, vault=current_vault())
        stored = _stored(url)
        for born in BORN.values():
            assert born is None or born.isoformat() not in stored
            assert born is None or born.strftime("%m/%d") not in stored
        engine = create_db_engine(url)
        with Session(bind=engine) as session:
            read = dict(session.execute(select(Client.id, Client.date_of_birth)).all())
            assert read == BORN
            client = session.get(Client, "b" * 32)
            assert client is not None
            client.date_of_birth = date(1990, 4, 12)
            session.commit()
        assert "1990-04-12" not in _stored(url)
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_dates_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        command.downgrade(alembic_config(url), BEFORE)
        upgrade(url)


def test_keys_that_cannot_read_the_names_are_refused(tmp_path: Path) -> None:
    # Nothing else encrypted yet (no messages, calendars or second factors): the clients' names,
    # encrypted since 0028, show that the keys given are not the database's.
    stranger = Vault([Fernet.generate_key().decode()])
    with fresh_database("sqlite", tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        with pytest.raises(RuntimeError, match="PROIRP_ENCRYPTION_KEYS"):
            upgrade(url, vault=stranger)
        assert _stored(url).startswith(BEFORE)


def test_a_date_that_is_not_a_date_is_refused_naming_the_client_only(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE clients SET date_of_birth = '1987-3-14' WHERE id = :id"),
                {"id": "c" * 32},
            )
        engine.dispose()
        with pytest.raises(RuntimeError, match="c" * 32) as refused:
            upgrade(url, vault=current_vault())
        assert "1987" not in str(refused.value)
        assert _stored(url).startswith(BEFORE)
