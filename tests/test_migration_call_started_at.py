"""Migration 0025 (call_started_at): email already `sending` when it runs is taken as having
begun its call (never resent, decision 0003); nothing else is marked; down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from proirp.kit.db import create_db_engine
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database

BEFORE = "0024"
AFTER = "0025"  # later revisions encrypt what these rows hold in clear
MESSAGE = (
    "INSERT INTO communications (id, channel, to_address, body, status, attempts, claimed_at,"
    " created_at, updated_at) VALUES (:id, :channel, 'x', 'x', :status, 1, :claimed_at,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
CLAIMED = "2026-12-04 10:00:00"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_email_already_sending_is_taken_as_begun(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE)
        engine = create_db_engine(url)
        rows = [
            ("email-sending", "email", "sending", CLAIMED),
            ("email-queued", "email", "queued", None),
            ("sms-sending", "sms", "sending", CLAIMED),
        ]
        with engine.begin() as conn:
            for comm_id, channel, status, claimed_at in rows:
                values = {"id": comm_id, "channel": channel, "status": status}
                conn.execute(text(MESSAGE), values | {"claimed_at": claimed_at})
        upgrade(url, AFTER)
        with engine.connect() as conn:
            begun = conn.execute(
                text("SELECT id FROM communications WHERE call_started_at = claimed_at")
            ).scalars()
            assert set(begun) == {"email-sending"}
        command.downgrade(alembic_config(url), BEFORE)
        upgrade(url, AFTER)
        engine.dispose()
