"""Migration 0023 (the inbox's conversations kept): up on both databases fills a row per
conversation and per reader from the messages and reads already there; down drops them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database

BEFORE = "0022"
AFTER = "0023"
TABLES = {"inbox_conversations", "conversation_reads"}
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, phone, timezone, sms_consent,"
    " email_consent, reminders_opt_out, created_at, updated_at) VALUES (:id, 'Mari', 'Okafor',"
    " '+13125550188', 'America/Chicago', false, false, false, :at, :at)"
)
USER = (
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at)"
    " VALUES (:id, :email, 'x', 'staff', true, :at, :at)"
)
MESSAGE = (
    "INSERT INTO communications (id, client_id, direction, channel, to_address, from_address,"
    " body, status, attempts, created_at, updated_at) VALUES (:id, :client, :direction, 'sms',"
    " '+13125550000', :number, 'x', :status, 0, :at, :at)"
)
READ = "INSERT INTO message_reads (user_id, communication_id, read_at) VALUES (:user, :id, :at)"


def _at(minute: int, sqlite: bool) -> object:
    at = datetime(2026, 11, 2, 9, minute, tzinfo=UTC)
    return at.replace(tzinfo=None).isoformat(sep=" ") if sqlite else at


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_up_fills_from_the_messages_and_reads_then_down_drops(kind: str, tmp_path: Path) -> None:
    sqlite = kind == "sqlite"
    client = "c" * 32
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(text(CLIENT), {"id": client, "at": _at(0, sqlite)})
            for user in ("a", "b"):
                conn.execute(
                    text(USER),
                    {"id": user * 32, "email": f"{user}@example.org", "at": _at(0, sqlite)},
                )
            messages = [  # (id, client, direction, number, minute)
                ("1", client, "inbound", "+13125550188", 1),
                ("2", client, "inbound", "+13125550188", 3),
                ("3", client, "outbound", None, 4),
                ("4", None, "inbound", "+14155550101", 2),
            ]
            for mid, owner, direction, number, minute in messages:
                conn.execute(
                    text(MESSAGE),
                    {
                        "id": mid * 32,
                        "client": owner,
                        "direction": direction,
                        "number": number,
                        "status": "received" if direction == "inbound" else "delivered",
                        "at": _at(minute, sqlite),
                    },
                )
            conn.execute(text(READ), {"user": "a" * 32, "id": "1" * 32, "at": _at(5, sqlite)})
            conn.execute(text(READ), {"user": "b" * 32, "id": "1" * 32, "at": _at(5, sqlite)})
            conn.execute(text(READ), {"user": "b" * 32, "id": "2" * 32, "at": _at(5, sqlite)})

        upgrade(url, AFTER)
        with engine.connect() as conn:
            kept = conn.execute(
                text(
                    "SELECT conversation, client_id, number, messages FROM inbox_conversations"
                    " ORDER BY conversation"
                )
            ).all()
            reads = conn.execute(
                text(
                    "SELECT user_id, conversation, unread FROM conversation_reads ORDER BY user_id"
                )
            ).all()
            newest = conn.scalar(
                text("SELECT last_inbound_at FROM inbox_conversations WHERE client_id = :c"),
                {"c": client},
            )
        assert [tuple(row) for row in kept] == [
            (f"client:{client}", client, None, 2),
            ("number:+14155550101", None, "+14155550101", 1),
        ]
        assert [tuple(row) for row in reads] == [
            ("a" * 32, f"client:{client}", 1),
            ("b" * 32, f"client:{client}", 0),
        ]
        assert str(newest).startswith("2026-11-02 09:03")

        command.downgrade(alembic_config(url), BEFORE)
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(url, AFTER)
        assert set(inspect(engine).get_table_names()) >= TABLES
        engine.dispose()
