"""messages' addresses encrypted at rest and found by keyed hashes (communications.to_hash,
from_hash); the inbox names a conversation with a number no single client matches by the
number's hash, and keeps the number itself encrypted (decision 0036)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from proirp.clients.identity import keyed_address
from proirp.migrations.sealing import ENCRYPTED_BEFORE, the_practices_vault, the_search_key

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
MESSAGES = "SELECT count(*) FROM communications"
INBOX = "ix_communications_inbound_conversations"
INBOUND = sa.text("direction = 'inbound'")
# What already holds values encrypted with the practice's keys, the hash key first.
ENCRYPTED = (
    ("search_keys", "sealed"),
    ("clients", "first_name"),
    ("opt_outs", "address"),
    *ENCRYPTED_BEFORE,
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name != "sqlite"
    with op.batch_alter_table("communications") as batch_op:
        batch_op.drop_index("ix_communications_from_address")
        batch_op.drop_index(INBOX)
        # NOT NULL from the start, with a default for the rows already there until they are
        # hashed below: made NOT NULL afterwards, SQLite would rebuild the table, and dropping
        # the old one (which other tables refer to) is refused while foreign keys are checked.
        batch_op.add_column(
            sa.Column("to_hash", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("from_hash", sa.String(length=32), nullable=True))
        if postgres:
            # SQLite keeps a token in a VARCHAR column as text (env.py's comparison knows).
            batch_op.alter_column("to_address", type_=sa.Text())
            batch_op.alter_column("from_address", type_=sa.Text())
    if postgres:
        op.alter_column("inbox_conversations", "number", type_=sa.Text())
    if bind.execute(sa.text(MESSAGES)).scalar_one():
        vault = the_practices_vault("messages' addresses", ENCRYPTED)
        key = the_search_key(vault)
        _seal_messages(bind, vault.encrypt, key)
        _rename_conversations(bind, vault.encrypt, key)
    if postgres:
        op.alter_column("communications", "to_hash", server_default=None)
    op.create_index("ix_communications_from_hash", "communications", ["from_hash"])
    op.create_index(
        INBOX,
        "communications",
        ["client_id", "from_hash", "created_at", "id"],
        sqlite_where=INBOUND,
        postgresql_where=INBOUND,
    )


def _seal_messages(bind: sa.Connection, encrypt: Callable[[str], str], key: bytes) -> None:
    read = sa.text(
        "SELECT id, channel, to_address, from_address FROM communications"
        " WHERE id > :after ORDER BY id LIMIT :batch"
    )
    write = sa.text(
        "UPDATE communications SET to_address = :to, from_address = :sender,"
        " to_hash = :to_hash, from_hash = :from_hash WHERE id = :id"
    )
    after = ""
    while rows := bind.execute(read, {"after": after, "batch": BATCH}).all():
        bind.execute(write, [_sealed(row, encrypt, key) for row in rows])
        after = rows[-1][0]


def _sealed(row: Any, encrypt: Callable[[str], str], key: bytes) -> dict[str, Any]:
    comm_id, channel, to, sender = row
    return {
        "id": comm_id,
        "to": encrypt(to),
        "sender": None if sender is None else encrypt(sender),
        "to_hash": keyed_address(key, channel, to),
        "from_hash": None if sender is None else keyed_address(key, channel, sender),
    }


def _rename_conversations(bind: sa.Connection, encrypt: Callable[[str], str], key: bytes) -> None:
    """Each conversation named by a number ("number:<E.164>") is named by the number's hash
    instead, its number encrypted; two spellings of one number (space around it) become one."""
    renamed = {}
    conversations: dict[str, dict[str, Any]] = {}
    for old, number, messages, last in bind.execute(
        sa.text(
            "SELECT conversation, number, messages, last_inbound_at FROM inbox_conversations"
            " WHERE conversation LIKE 'number:%'"
        )
    ).all():
        new = renamed[old] = "number:" + keyed_address(key, "sms", old.removeprefix("number:"))
        was = conversations.get(new)
        conversations[new] = {
            "conversation": new,
            "number": encrypt(number),
            "messages": messages + (was["messages"] if was else 0),
            "last_inbound_at": max(last, was["last_inbound_at"]) if was else last,
        }
    reads: dict[tuple[str, str], dict[str, Any]] = {}
    for user_id, old, unread in bind.execute(
        sa.text(
            "SELECT user_id, conversation, unread FROM conversation_reads"
            " WHERE conversation LIKE 'number:%'"
        )
    ).all():
        if old not in renamed:
            continue  # a reader's row of no conversation (the foreign key keeps there none)
        new = renamed[old]
        was = reads.get((user_id, new))
        reads[(user_id, new)] = {
            "user_id": user_id,
            "conversation": new,
            "unread": unread + (was["unread"] if was else 0),
            "last_inbound_at": conversations[new]["last_inbound_at"],
        }
    bind.execute(sa.text("DELETE FROM conversation_reads WHERE conversation LIKE 'number:%'"))
    bind.execute(sa.text("DELETE FROM inbox_conversations WHERE conversation LIKE 'number:%'"))
    if conversations:
        bind.execute(
            sa.text(
                "INSERT INTO inbox_conversations"
                " (conversation, client_id, number, messages, last_inbound_at)"
                " VALUES (:conversation, NULL, :number, :messages, :last_inbound_at)"
            ),
            list(conversations.values()),
        )
    if reads:
        bind.execute(
            sa.text(
                "INSERT INTO conversation_reads (user_id, conversation, unread, last_inbound_at)"
                " VALUES (:user_id, :conversation, :unread, :last_inbound_at)"
            ),
            list(reads.values()),
        )
    incidents = bind.execute(
        sa.text("SELECT id, conversation FROM urgent_incidents WHERE conversation LIKE 'number:%'")
    ).all()
    if incidents:
        bind.execute(
            sa.text("UPDATE urgent_incidents SET conversation = :new WHERE id = :id"),
            [
                {"id": incident_id, "new": "number:" + keyed_address(key, "sms", old[7:])}
                for incident_id, old in incidents
            ],
        )


def downgrade() -> None:
    """Back to addresses in clear: refused while there are messages (it would write their
    addresses in clear)."""
    bind = op.get_bind()
    if bind.execute(sa.text(MESSAGES)).scalar_one():
        raise RuntimeError(
            "messages' addresses are encrypted from revision 0031 on; going back would write "
            "them in clear"
        )
    postgres = bind.dialect.name != "sqlite"
    if postgres:
        op.alter_column("inbox_conversations", "number", type_=sa.String(length=320))
    with op.batch_alter_table("communications") as batch_op:
        batch_op.drop_index(INBOX)
        batch_op.drop_index("ix_communications_from_hash")
        batch_op.drop_column("from_hash")
        batch_op.drop_column("to_hash")
        if postgres:
            batch_op.alter_column("to_address", type_=sa.String(length=320))
            batch_op.alter_column("from_address", type_=sa.String(length=320))
        batch_op.create_index("ix_communications_from_address", ["from_address"], unique=False)
        batch_op.create_index(
            INBOX,
            ["client_id", "from_address", "created_at", "id"],
            unique=False,
            sqlite_where=INBOUND,
            postgresql_where=INBOUND,
        )
