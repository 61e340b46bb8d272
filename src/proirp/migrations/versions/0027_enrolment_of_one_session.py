"""second_factors.started_by_token_id: an enrolment belongs to the session that started it

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An enrolment left unfinished before this has no session: starting again gives it one.
    with op.batch_alter_table("second_factors") as batch_op:
        batch_op.add_column(sa.Column("started_by_token_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("second_factors") as batch_op:
        batch_op.drop_column("started_by_token_id")
