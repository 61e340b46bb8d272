"""pace slots: provider calls counted in the database, for workers that share no Redis

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pace_slots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("taken_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pace_slots")),
    )
    with op.batch_alter_table("pace_slots", schema=None) as batch_op:
        batch_op.create_index("ix_pace_slots_key_taken_at", ["key", "taken_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pace_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_pace_slots_key_taken_at")
    op.drop_table("pace_slots")
