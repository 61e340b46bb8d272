"""suppression causes: what put an email address on the list, and its unsubscribe group

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cause", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("unsubscribe_group", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.drop_column("unsubscribe_group")
        batch_op.drop_column("cause")
