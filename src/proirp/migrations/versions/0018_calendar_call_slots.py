"""calendar call slots: an account's requests in flight, leased in the database

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_call_slots",
        sa.Column("lease_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("expires_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lease_id", name=op.f("pk_calendar_call_slots")),
    )
    with op.batch_alter_table("calendar_call_slots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calendar_call_slots_key_expires_at", ["key", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_call_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_call_slots_key_expires_at")
    op.drop_table("calendar_call_slots")
