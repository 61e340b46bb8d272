"""calendar push: a Google channel or Graph subscription per connected calendar

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = proirp.kit.time.UTCDateTime(timezone=True)
    op.create_table(
        "calendar_push_channels",
        sa.Column("integration_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=255), nullable=True),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", moment, nullable=True),
        sa.Column("last_message_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_notified_at", moment, nullable=True),
        sa.Column("sync_requested_at", moment, nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("retry_at", moment, nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["calendar_integrations.id"],
            name=op.f("fk_calendar_push_channels_integration_id_calendar_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_push_channels")),
        sa.UniqueConstraint(
            "integration_id", name=op.f("uq_calendar_push_channels_integration_id")
        ),
    )
    with op.batch_alter_table("calendar_push_channels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_push_channels_channel_id"), ["channel_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calendar_push_channels_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_push_channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_push_channels_created_at"))
        batch_op.drop_index(batch_op.f("ix_calendar_push_channels_channel_id"))
    op.drop_table("calendar_push_channels")
