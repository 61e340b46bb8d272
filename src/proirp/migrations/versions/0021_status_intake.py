"""status intake: provider status callbacks kept as they came, applied in batches

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_intake",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("provider_status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("received_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_intake")),
    )
    with op.batch_alter_table("status_intake", schema=None) as batch_op:
        batch_op.create_index("ix_status_intake_due_at_id", ["due_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("status_intake", schema=None) as batch_op:
        batch_op.drop_index("ix_status_intake_due_at_id")
    op.drop_table("status_intake")
