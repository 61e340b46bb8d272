"""communications.call_started_at: an email whose claim never reached SendGrid is sent again by
the sweeper, one whose call began is settled as before

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("call_started_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )
    # Email left `sending` before this: whether its call began is not known, so it is taken as
    # begun (never resent, decision 0003).
    op.execute(
        "UPDATE communications SET call_started_at = claimed_at "
        "WHERE status = 'sending' AND channel = 'email'"
    )


def downgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_column("call_started_at")
