"""Migration 0028 (client identity encrypted): clients already there are encrypted in place with
the vault `proirp db upgrade` passes, found by search and by number afterwards; without the
vault, or going back with clients there, it refuses and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.orm import Session

from proirp.clients.repository import list_clients
from proirp.comms.sms.inbound import clients_with_phone
from proirp.kit.crypto import Vault, current_vault
from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database

BEFORE = "0027"
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, phone, email, timezone, sms_consent,"
    " email_consent, reminders_opt_out, created_at, updated_at) VALUES (:id, :first, :last,"
    " :phone, :email, 'America/Chicago', true, false, false, :at, :at)"
)
PEOPLE = [
    ("a" * 32, "Marisol", "Okafor", "+13125550188", "marisol@northside.example.org"),
    ("b" * 32, "Ngozi", "Eze", None, None),
]


def _fill(url: str) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        for i, (cid, first, last, phone, email) in enumerate(PEOPLE):
            conn.execute(
                text(CLIENT),
                {
                    "id": cid,
                    "first": first,
                    "last": last,
                    "phone": phone,
                    "email": email,
                    "at": f"2026-11-0{i + 1} 09:00:00+00:00",
                },
            )
    engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_clients_there_are_encrypted_in_place(kind: str, tmp_path: Path, db: Session) -> None:
    vault = current_vault()  # the one the test session's product uses
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE)
        _fill(url)
        with pytest.raises(RuntimeError, match="proirp db upgrade"):
            upgrade(url)
        upgrade(url, vault=vault)
        engine = create_db_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT * FROM clients")).all()
            dump = "\n".join(str(v) for row in stored for v in row).lower()
            for _cid, first, last, phone, email in PEOPLE:
                for value in (first, last, phone, email):
                    assert value is None or value.lower() not in dump
            with Session(bind=conn) as session:
                assert [c.id for c in clients_with_phone(session, PEOPLE[0][3] or "")] == ["a" * 32]
                found = list_clients(session, q="marisol okafor", limit=10, cursor=None)
                assert [(c.first_name, c.email) for c in found] == [("Marisol", PEOPLE[0][4])]
                assert [c.id for c in list_clients(session, q="eze", limit=10, cursor=None)] == [
                    "b" * 32
                ]
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


def test_without_the_vault_nothing_changes(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        upgrade(url, BEFORE)
        _fill(url)
        with pytest.raises(RuntimeError, match="proirp db upgrade"):
            upgrade(url, vault=None)
        engine = create_db_engine(url)
        with engine.connect() as conn:  # nothing half-done: still the old revision, in clear
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == BEFORE
            assert (
                conn.scalar(text("SELECT first_name FROM clients WHERE id = :id"), {"id": "a" * 32})
                == "Marisol"
            )
        engine.dispose()


def test_keys_that_cannot_read_the_database_are_refused(tmp_path: Path) -> None:
    # A development key made where the practice's keys were meant would leave every client
    # encrypted under a key no one has.
    practice = Vault([Fernet.generate_key().decode()])
    stranger = Vault([Fernet.generate_key().decode()])
    with fresh_database("sqlite", tmp_path) as url:
        upgrade(url, BEFORE)
        _fill(url)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, role, is_active, created_at,"
                    " updated_at) VALUES (:id, 'a@example.org', 'x', 'admin', true, :at, :at)"
                ),
                {"id": "u" * 32, "at": "2026-11-01 09:00:00+00:00"},
            )
            conn.execute(
                text(
                    "INSERT INTO second_factors (id, user_id, totp_secret, created_at, updated_at)"
                    " VALUES (:id, :user, :secret, :at, :at)"
                ),
                {
                    "id": "f" * 32,
                    "user": "u" * 32,
                    "secret": practice.encrypt("JBSWY3DPEHPK3PXP"),
                    "at": "2026-11-01 09:00:00+00:00",
                },
            )
        with pytest.raises(RuntimeError, match="PROIRP_ENCRYPTION_KEYS"):
            upgrade(url, vault=stranger)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == BEFORE
        upgrade(url, vault=practice)
        with engine.connect() as conn:
            stored = conn.scalar(
                text("SELECT last_name FROM clients WHERE id = :id"), {"id": "a" * 32}
            )
            assert practice.decrypt(stored) == "Okafor"
        engine.dispose()
