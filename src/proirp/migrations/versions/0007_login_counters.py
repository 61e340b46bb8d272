"""login counters: failed sign-ins shared by every process

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_counters",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_counters")),
    )
    with op.batch_alter_table("login_counters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_counters_window_ends_at"), ["window_ends_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_counters_window_ends_at"))
    op.drop_table("login_counters")
