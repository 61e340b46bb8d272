"""Migration 0030: opt-outs' addresses already there are encrypted in place and found again by
their keyed hashes; automatic-reply marks keep only a number's hash and still hold back a second
after-hours reply. Without the vault it refuses and changes nothing; going back is refused while
there are opt-outs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from proirp.clients.models import Channel
from proirp.clients.repository import active_opt_outs, opted_out_addresses
from proirp.comms.core.guard import suppressed_addresses
from proirp.comms.inbox.replies import claim_after_hours_turn
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database, stored

BEFORE = "0029"
PHONE, EMAIL, MARKED = "+15125550187", "marisol.okafor@example.org", "+15125550142"
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, timezone, sms_consent, email_consent,"
    " reminders_opt_out, created_at, updated_at) VALUES (:id, :first, :last, 'America/Chicago',"
    " false, false, false, :at, :at)"
)
OPT_OUT = (
    "INSERT INTO opt_outs (id, channel, address, reason, source, created_at, updated_at)"
    " VALUES (:id, :channel, :address, 'replied STOP', 'sms_keyword', :at, :at)"
)
MARK = (
    "INSERT INTO auto_reply_marks (address, purpose, sent_at)"
    " VALUES (:address, 'after_hours_reply', :at)"
)


def _fill(url: str) -> None:
    vault, at = current_vault(), utcnow() - timedelta(hours=1)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        first, last = vault.encrypt("Marisol"), vault.encrypt("Okafor")
        conn.execute(text(CLIENT), {"id": "a" * 32, "first": first, "last": last, "at": at})
        for oid, channel, address in (("1" * 32, "sms", PHONE), ("2" * 32, "email", EMAIL)):
            conn.execute(
                text(OPT_OUT), {"id": oid, "channel": channel, "address": address, "at": at}
            )
        conn.execute(text(MARK), {"address": MARKED, "at": at})
        # The same number with a space after it, marked earlier: one mark after, the later.
        conn.execute(text(MARK), {"address": f"{MARKED} ", "at": at - timedelta(hours=5)})
    engine.dispose()


def _stored(url: str) -> str:
    return stored(url, "opt_outs", "auto_reply_marks")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_addresses_there_are_encrypted_and_found_again(
    kind: str, tmp_path: Path, db: Session
) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        with pytest.raises(RuntimeError, match=r"opt-outs' addresses.*proirp db upgrade"):
            upgrade(url)
        before = _stored(url)  # nothing half-done: the revision before, the addresses as they were
        assert before.startswith(BEFORE) and PHONE in before and MARKED in before
        upgrade(url, vault=current_vault())
        stored = _stored(url)
        for address in (PHONE, EMAIL, MARKED, PHONE[2:], "okafor"):
            assert address not in stored
        engine = create_db_engine(url)
        with Session(bind=engine) as session:
            asked = [PHONE, f" {PHONE}", MARKED]
            assert opted_out_addresses(session, Channel.SMS, asked) == {PHONE, f" {PHONE}"}
            marks = session.execute(text("SELECT count(*) FROM auto_reply_marks")).scalar()
            assert marks == 1
            assert suppressed_addresses(session, [EMAIL.upper()]) == {EMAIL: "replied STOP"}
            [row] = active_opt_outs(session, Channel.EMAIL, EMAIL)
            assert row.address == EMAIL  # read back through the vault
            # The mark written an hour ago still holds the after-hours reply back; another
            # number gets its turn.
            assert not claim_after_hours_turn(session, MARKED, utcnow())
            assert claim_after_hours_turn(session, PHONE, utcnow())
            session.commit()
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_opt_outs_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url)
        engine = create_db_engine(url)
        with Session(bind=engine) as session:
            assert claim_after_hours_turn(session, MARKED, utcnow())
            session.commit()
        engine.dispose()
        # A mark's hash cannot become its number again: going back lets the marks go.
        command.downgrade(alembic_config(url), BEFORE)
        assert _stored(url) == BEFORE
        upgrade(url)
