"""Migration 0031: the addresses of the messages already there are encrypted in place and found
again by their keyed hashes; the inbox's conversations with a number of no client are named by
the number's hash, with what each reader has read of them and their open urgent incident kept.
Without the vault it refuses and changes nothing; going back is refused while there are
messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from proirp.comms.core.repository import queued_email_to, queued_sms_to
from proirp.comms.inbox.incidents import conversation_of
from proirp.comms.inbox.models import ConversationRead, InboxConversation, UrgentIncident
from proirp.comms.inbox.tallies import recount
from proirp.comms.models import Communication
from proirp.kit.crypto import current_vault
from proirp.kit.db import create_db_engine
from proirp.kit.time import utcnow
from proirp.migrations.commands import alembic_config, upgrade
from tests.databases import fresh_database, stored

BEFORE, AFTER = "0030", "0031"
PHONE, EMAIL = "+15125550187", "Marisol.Okafor@example.org"
STRANGER, PRACTICE = "+15125550142", "+15005550006"
CLIENT_ID, USER_ID = "c" * 32, "u" * 32
TABLES = ("communications", "inbox_conversations", "conversation_reads", "urgent_incidents")
CLIENT = (
    "INSERT INTO clients (id, first_name, last_name, timezone, sms_consent, email_consent,"
    " reminders_opt_out, created_at, updated_at) VALUES (:id, :first, :last, 'America/Chicago',"
    " false, false, false, :at, :at)"
)
USER = (
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at)"
    " VALUES (:id, 'frontdesk@example.org', 'x', 'staff', true, :at, :at)"
)
MESSAGE = (
    "INSERT INTO communications (id, client_id, direction, channel, to_address, from_address,"
    " body, status, attempts, created_at, updated_at) VALUES (:id, :client, :direction,"
    " :channel, :to, :sender, :body, :status, 0, :at, :at)"
)
# (id, client, direction, channel, to, from, status, minutes ago)
MESSAGES = [
    ("1", CLIENT_ID, "outbound", "sms", PHONE, None, "queued", 50),
    ("2", CLIENT_ID, "outbound", "email", EMAIL, None, "queued", 40),
    ("3", None, "inbound", "sms", PRACTICE, STRANGER, "received", 30),
    ("4", None, "inbound", "sms", PRACTICE, STRANGER, "received", 20),
    ("5", CLIENT_ID, "inbound", "sms", PRACTICE, PHONE, "received", 10),
]
INBOX = [  # what the inbox held at 0030, as the product wrote it
    (
        "INSERT INTO inbox_conversations (conversation, client_id, number, messages,"
        " last_inbound_at) VALUES (:key, NULL, :number, 2, :last)"
    ),
    (
        "INSERT INTO inbox_conversations (conversation, client_id, number, messages,"
        " last_inbound_at) VALUES (:client_key, :client, NULL, 1, :client_last)"
    ),
    "INSERT INTO message_reads (user_id, communication_id, read_at) VALUES (:user, :read, :last)",
    (
        "INSERT INTO conversation_reads (user_id, conversation, unread, last_inbound_at)"
        " VALUES (:user, :key, 1, :last)"
    ),
    (
        "INSERT INTO urgent_incidents (id, conversation, communication_id, messages,"
        " last_message_at, alerts_sent, created_at, updated_at)"
        " VALUES (:incident, :key, :urgent, 1, :last, 0, :last, :last)"
    ),
]


def _fill(url: str) -> None:
    vault, now = current_vault(), utcnow()
    ago = {mid: now - timedelta(minutes=minutes) for mid, *_, minutes in MESSAGES}
    engine = create_db_engine(url)
    with engine.begin() as conn:
        first, last = vault.encrypt("Marisol"), vault.encrypt("Okafor")
        conn.execute(text(CLIENT), {"id": CLIENT_ID, "first": first, "last": last, "at": now})
        conn.execute(text(USER), {"id": USER_ID, "at": now})
        for mid, client, direction, channel, to, sender, status, _ in MESSAGES:
            values = {"id": mid * 32, "client": client, "direction": direction}
            values |= {"channel": channel, "to": to, "sender": sender, "status": status}
            conn.execute(text(MESSAGE), {**values, "body": vault.encrypt("x"), "at": ago[mid]})
        keys = {"key": f"number:{STRANGER}", "number": STRANGER, "last": ago["4"]}
        keys |= {"client_key": f"client:{CLIENT_ID}", "client": CLIENT_ID}
        keys |= {"client_last": ago["5"], "user": USER_ID, "read": "3" * 32}
        for statement in INBOX:
            conn.execute(text(statement), {**keys, "incident": "i" * 32, "urgent": "4" * 32})
    engine.dispose()


def _stored(url: str) -> str:
    return stored(url, *TABLES)


def _inbox(session: Session) -> list[Any]:
    """The inbox's rows as the product reads them (numbers decrypted), in one order."""
    conversations = session.execute(
        select(
            InboxConversation.conversation,
            InboxConversation.client_id,
            InboxConversation.number,
            InboxConversation.messages,
        ).order_by(InboxConversation.conversation)
    ).all()
    reads = session.execute(
        select(ConversationRead.user_id, ConversationRead.conversation, ConversationRead.unread)
    ).all()
    return [tuple(row) for row in [*conversations, *reads]]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_addresses_there_are_encrypted_and_found_again(
    kind: str, tmp_path: Path, app: FastAPI
) -> None:
    """(`app`: the product started, with its vault.)"""
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, BEFORE, vault=current_vault())
        _fill(url)
        with pytest.raises(RuntimeError, match=r"messages' addresses.*proirp db upgrade"):
            upgrade(url)
        before = _stored(url)  # nothing half-done: the revision before, the addresses as they were
        assert before.startswith(BEFORE) and PHONE in before and STRANGER in before
        upgrade(url, vault=current_vault())
        stored = _stored(url)
        for address in (PHONE, EMAIL, STRANGER, PRACTICE, PHONE[2:], STRANGER[2:], "okafor"):
            assert address.lower() not in stored.lower()
        engine = create_db_engine(url)
        with Session(bind=engine) as session:
            # The blocks a STOP or a bounce puts on queued messages find them by hash.
            assert [c.id for c in queued_sms_to(session, PHONE)] == ["1" * 32]
            assert [c.id for c in queued_email_to(session, EMAIL.lower())] == ["2" * 32]
            message = session.get_one(Communication, "4" * 32)
            assert (message.to_address, message.from_address) == (PRACTICE, STRANGER)
            # The stranger's conversation, renamed, holds what it held: the number (read back
            # through the vault), its two messages, the one of them the reader has not read.
            key = conversation_of(message)
            assert key != f"number:{STRANGER}"
            kept = _inbox(session)
            assert (key, None, STRANGER, 2) in kept and (USER_ID, key, 1) in kept
            incident = session.get_one(UrgentIncident, "i" * 32)
            assert incident.conversation == key
            # Counted again from the messages and reads, the inbox is what the migration left.
            recount(session.connection())
            assert _inbox(session) == kept
            session.rollback()
        with pytest.raises(RuntimeError, match="in clear"):
            command.downgrade(alembic_config(url), BEFORE)
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_without_messages_it_goes_both_ways(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        upgrade(url, AFTER)
        command.downgrade(alembic_config(url), BEFORE)
        assert _stored(url) == BEFORE
        upgrade(url, AFTER)
        assert _stored(url).startswith(AFTER)
