"""the inbox: inbound messages as communications, their media, read state, urgent incidents,
automatic replies and the inbox settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.crypto
import proirp.kit.time

OLD_STATUSES = (
    "'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'blocked', 'unknown', "
    "'cancelled'"
)
STATUSES = OLD_STATUSES + ", 'received'"

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auto_reply_marks",
        sa.Column("address", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("sent_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", "purpose", name=op.f("pk_auto_reply_marks")),
    )
    op.create_table(
        "inbox_settings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("office_hours", sa.JSON(), nullable=False),
        sa.Column("safety_reply", sa.String(length=320), nullable=False),
        sa.Column("after_hours_reply", sa.String(length=320), nullable=False),
        sa.Column("urgent_phrases", sa.JSON(), nullable=False),
        sa.Column("on_call_email", sa.String(length=320), nullable=True),
        sa.Column("realert_minutes", sa.Integer(), nullable=False),
        sa.Column("realert_limit", sa.Integer(), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_settings")),
    )
    with op.batch_alter_table("inbox_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_settings_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "message_media",
        sa.Column("communication_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("url", proirp.kit.crypto.EncryptedText(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("content", proirp.kit.crypto.EncryptedText(), nullable=True),
        sa.Column("fetched_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_reason", sa.String(length=300), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name=op.f("fk_message_media_communication_id_communications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_media")),
        sa.UniqueConstraint(
            "communication_id", "position", name=op.f("uq_message_media_communication_id")
        ),
    )
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_media_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "message_reads",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("communication_id", sa.String(length=32), nullable=False),
        sa.Column("read_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name=op.f("fk_message_reads_communication_id_communications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_message_reads_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "communication_id", name=op.f("pk_message_reads")),
    )
    with op.batch_alter_table("message_reads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_reads_communication_id"), ["communication_id"], unique=False
        )

    op.create_table(
        "urgent_incidents",
        sa.Column("conversation", sa.String(length=64), nullable=False),
        sa.Column("communication_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("last_message_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("alerts_sent", sa.Integer(), nullable=False),
        sa.Column("next_alert_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["users.id"],
            name=op.f("fk_urgent_incidents_acknowledged_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_urgent_incidents_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name=op.f("fk_urgent_incidents_communication_id_communications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_incidents")),
    )
    with op.batch_alter_table("urgent_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_urgent_incidents_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_urgent_incidents_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index("ix_urgent_incidents_next_alert_at", ["next_alert_at"], unique=False)
        batch_op.create_index(
            "uq_urgent_incidents_open_conversation",
            ["conversation"],
            unique=True,
            sqlite_where=sa.text("acknowledged_at IS NULL"),
            postgresql_where=sa.text("acknowledged_at IS NULL"),
        )

    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=8), server_default="outbound", nullable=False)
        )
        batch_op.add_column(sa.Column("purpose", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("from_address", sa.String(length=320), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.VARCHAR(length=32), nullable=True)
        batch_op.create_index(
            "ix_communications_client_id_created_at", ["client_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_communications_from_address", ["from_address"], unique=False)
        batch_op.create_index(
            "uq_communications_inbound_message",
            ["provider", "provider_message_id"],
            unique=True,
            sqlite_where=sa.text("direction = 'inbound'"),
            postgresql_where=sa.text("direction = 'inbound'"),
        )
        batch_op.drop_constraint(op.f("ck_communications_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_communications_status"), f"status IN ({STATUSES})"
        )
        batch_op.create_check_constraint(
            op.f("ck_communications_direction"), "direction IN ('outbound', 'inbound')"
        )


def downgrade() -> None:
    with op.batch_alter_table("urgent_incidents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_urgent_incidents_open_conversation",
            sqlite_where=sa.text("acknowledged_at IS NULL"),
            postgresql_where=sa.text("acknowledged_at IS NULL"),
        )
        batch_op.drop_index("ix_urgent_incidents_next_alert_at")
        batch_op.drop_index(batch_op.f("ix_urgent_incidents_created_at"))
        batch_op.drop_index(batch_op.f("ix_urgent_incidents_client_id"))

    op.drop_table("urgent_incidents")
    with op.batch_alter_table("message_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_reads_communication_id"))

    op.drop_table("message_reads")
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_media_created_at"))

    op.drop_table("message_media")
    with op.batch_alter_table("inbox_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_settings_created_at"))

    op.drop_table("inbox_settings")
    op.drop_table("auto_reply_marks")
    # What only this release could write: client texts, and what nobody on staff sent.
    op.execute(
        "DELETE FROM communication_events WHERE communication_id IN"
        " (SELECT id FROM communications WHERE user_id IS NULL)"
    )
    op.execute("DELETE FROM communications WHERE user_id IS NULL")
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_communications_direction"), type_="check")
        batch_op.drop_constraint(op.f("ck_communications_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_communications_status"), f"status IN ({OLD_STATUSES})"
        )
        batch_op.drop_index(
            "uq_communications_inbound_message",
            sqlite_where=sa.text("direction = 'inbound'"),
            postgresql_where=sa.text("direction = 'inbound'"),
        )
        batch_op.drop_index("ix_communications_from_address")
        batch_op.drop_index("ix_communications_client_id_created_at")
        batch_op.alter_column("user_id", existing_type=sa.VARCHAR(length=32), nullable=False)
        batch_op.drop_column("from_address")
        batch_op.drop_column("purpose")
        batch_op.drop_column("direction")
