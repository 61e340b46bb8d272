"""Migration 0022 (lists at size): up and down on both databases; on SQLite it builds the search
table from the clients already there, and the triggers keep it in step afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database

BEFORE = "0018"
# What this revision built (0028 replaced its search table by hashed pieces).
AFTER = "0022"
NEW_INDEXES = {
    "communications": {
        "ix_communications_status_created_at",
        "ix_communications_campaign_created_at",
        "ix_communications_inbound_conversations",
    },
    "audit_logs": {
        "ix_audit_logs_actor_user_id_id",
        "ix_audit_logs_client_id_id",
        "ix_audit_logs_action_id",
    },
}
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, email, phone, timezone, sms_consent,"
    " email_consent, reminders_opt_out, created_at, updated_at) VALUES (:id, :first, 'Okafor',"
    " 'm@example.org', '+13125550188', 'America/Chicago', false, false, false,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
FOUND = (
    "SELECT r.client_id FROM clients_search_rows r WHERE r.rowid IN"
    " (SELECT rowid FROM clients_search WHERE clients_search MATCH :phrase)"
)


def _indexes(url: str) -> dict[str, set[str]]:
    engine = create_db_engine(url)
    try:
        found = inspect(engine)
        return {table: {i["name"] or "" for i in found.get_indexes(table)} for table in NEW_INDEXES}
    finally:
        engine.dispose()


def _trigram_options(url: str) -> set[str | None]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT array_to_string(reloptions, ',') FROM pg_class"
                    " WHERE relname LIKE 'ix_clients_%_trgm'"
                )
            ).scalars()
            return set(rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_up_down_and_up_again(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(text(CLIENT), {"id": "a" * 32, "first": "Marisol"})
        upgrade(url, AFTER)
        for table, names in NEW_INDEXES.items():
            assert names <= _indexes(url)[table]
        if kind == "sqlite":
            with engine.begin() as conn:  # built from the rows there, then kept by triggers
                conn.execute(text(CLIENT), {"id": "b" * 32, "first": "Ngozi"})
                conn.execute(
                    text("UPDATE clients SET last_name = 'Eze' WHERE id = :id"), {"id": "a" * 32}
                )
                assert conn.scalars(text(FOUND), {"phrase": '"marisol"'}).all() == ["a" * 32]
                assert conn.scalars(text(FOUND), {"phrase": '"okafor"'}).all() == ["b" * 32]
                assert conn.scalars(text(FOUND), {"phrase": '"ngozi"'}).all() == ["b" * 32]

        else:  # every new client goes into the trigram indexes at once (no pending list)
            assert _trigram_options(url) == {"fastupdate=off"}

        command.downgrade(alembic_config(url), BEFORE)
        for table, names in NEW_INDEXES.items():
            assert not names & _indexes(url)[table]
        assert not [t for t in inspect(engine).get_table_names() if t.startswith("clients_search")]
        with engine.begin() as conn:  # no trigger left behind to fail a write
            conn.execute(text("UPDATE clients SET first_name = 'Mari'"))

        if kind == "postgres":
            assert _trigram_options(url) == {None}

        upgrade(url, AFTER)
        if kind == "sqlite":
            with engine.begin() as conn:
                assert sorted(conn.scalars(text(FOUND), {"phrase": '"okafor"'}).all()) == ["b" * 32]
        engine.dispose()
