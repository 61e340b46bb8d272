"""the inbox's conversations kept as messages arrive and are read: a row per conversation (its
inbound messages, the newest one's time) and per reader and conversation (how many they have not
read), filled from the existing messages and reads (decision 0028)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = sa.text("unread > 0")
ALL_READ = sa.text("unread = 0")

# A message's conversation, as the product names it: its client's, or its number's.
KEY = """CASE WHEN m.client_id IS NOT NULL THEN 'client:' || m.client_id
              ELSE 'number:' || m.from_address END"""
# The statements are constant text (no value from outside reaches them).
FILL = [
    f"""INSERT INTO inbox_conversations (conversation, client_id, number, messages, last_inbound_at)
    SELECT conversation, client_id, number, count(*), max(created_at) FROM (
        SELECT {KEY} AS conversation, m.client_id,
               CASE WHEN m.client_id IS NULL THEN m.from_address END AS number, m.created_at
        FROM communications m WHERE m.direction = 'inbound'
    ) inbound
    GROUP BY conversation, client_id, number""",  # noqa: S608
    f"""INSERT INTO conversation_reads (user_id, conversation, unread, last_inbound_at)
    SELECT r.user_id, c.conversation, c.messages - count(*), c.last_inbound_at
    FROM message_reads r
    JOIN communications m ON m.id = r.communication_id AND m.direction = 'inbound'
    JOIN inbox_conversations c ON c.conversation = {KEY}
    GROUP BY r.user_id, c.conversation, c.messages, c.last_inbound_at""",  # noqa: S608
]


def upgrade() -> None:
    op.create_table(
        "inbox_conversations",
        sa.Column("conversation", sa.String(length=330), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=True),
        sa.Column("number", sa.String(length=320), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("last_inbound_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_inbox_conversations_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("conversation", name=op.f("pk_inbox_conversations")),
    )
    op.create_index(op.f("ix_inbox_conversations_client_id"), "inbox_conversations", ["client_id"])
    op.create_index(
        "ix_inbox_conversations_last_inbound_at",
        "inbox_conversations",
        ["last_inbound_at", "client_id", "number"],
    )
    op.create_table(
        "conversation_reads",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("conversation", sa.String(length=330), nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("last_inbound_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation"],
            ["inbox_conversations.conversation"],
            name=op.f("fk_conversation_reads_conversation_inbox_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_conversation_reads_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "conversation", name=op.f("pk_conversation_reads")),
    )
    op.create_index(
        op.f("ix_conversation_reads_conversation"), "conversation_reads", ["conversation"]
    )
    for name, where in (
        ("ix_conversation_reads_unread", UNREAD),
        ("ix_conversation_reads_all_read", ALL_READ),
    ):
        op.create_index(
            name,
            "conversation_reads",
            ["user_id", "last_inbound_at"],
            sqlite_where=where,
            postgresql_where=where,
        )
    for statement in FILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("conversation_reads")
    op.drop_table("inbox_conversations")
