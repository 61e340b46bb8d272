"""Migration 0034: campaigns' selections already there (the clients chosen, or a filter with the
words staff typed) and the inbox's on-call address are encrypted in place and read back as they
were. Without the vault it refuses and changes nothing; going back is refused while there are
campaigns or an on-call address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from proirp.comms.inbox.models import InboxSettings
from proirp.comms.models import Campaign
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database, stored

BEFORE, AFTER = "0033", "0034"
CHOSEN = {"filter": {"q": "Okafor", "sms_consent": True}}
USER = (
    "INSERT INTO users (id, email, email_hash, password_hash, role, is_active, created_at,"
    " updated_at) VALUES ('u', :email, 'h', 'x', 'staff', true, :at, :at)"
)
ON_CALL = "oncall.rivera@clinic.example.com"
SETTINGS = (
    "INSERT INTO inbox_settings (id, timezone, office_hours, safety_reply, after_hours_reply,"
    " urgent_phrases, on_call_email, realert_minutes, realert_limit, created_at, updated_at)"
    " VALUES ('practice', 'UTC', '{}', 'Call 988.', 'We are closed.', '[]', :on_call, 15, 4,"
    " :at, :at)"
)
CAMPAIGN = (
    "INSERT INTO campaigns (id, channel, created_by_user_id, selection, total, status,"
    " created_at, updated_at) VALUES ('k', 'sms', 'u', :chosen, 0, 'queued', :at, :at)"
)


def _stored(url: str) -> str:
    return stored(url, "campaigns", "inbox_settings")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_selections_there_are_encrypted_and_read_back(
    kind: str, tmp_path: Path, app: FastAPI
) -> None:
    """(`app`: the product started, with its vault.)"""
    vault = current_vault()
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=vault)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            at = utcnow()
            conn.execute(text(USER), {"email": vault.encrypt("front@clinic.example.com"), "at": at})
            conn.execute(text(CAMPAIGN), {"chosen": json.dumps(CHOSEN), "at": at})
            conn.execute(text(SETTINGS), {"on_call": ON_CALL, "at": at})
        with pytest.raises(RuntimeError, match=r"campaigns' selections.*proirp db upgrade"):
            upgrade(url)
        before = _stored(url)  # nothing half-done
        assert "Okafor" in before and ON_CALL in before
        upgrade(url, vault=vault)
        stored = _stored(url)
        assert stored.startswith(AFTER) and "Okafor" not in stored and "rivera" not in stored
        with Session(bind=engine) as session:
            assert session.get_one(Campaign, "k").selection == CHOSEN
            assert session.get_one(InboxSettings, "practice").on_call_email == ON_CALL
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_campaigns_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, AFTER)
        command.downgrade(alembic_config(url), BEFORE)
        assert _stored(url) == BEFORE
        upgrade(url, AFTER)
        assert _stored(url) == AFTER
