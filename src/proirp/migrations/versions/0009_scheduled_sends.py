"""scheduled sends: send_at on messages and campaigns, and the status cancelled

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'blocked', 'unknown'"
_AFTER = _BEFORE + ", 'cancelled'"


def upgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("send_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(batch_op.f("ck_communications_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_communications_status"), f"status IN ({_AFTER})"
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("send_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    # A cancelled message was never sent: it becomes blocked, the nearest status before this one.
    op.execute("UPDATE communications SET status = 'blocked' WHERE status = 'cancelled'")
    # An earlier release fans out every campaign not yet fanned out, at once: a cancelled one,
    # or one scheduled (which it cannot hold back), must not go. Both end cancelled.
    op.execute(
        "UPDATE campaigns SET status = 'cancelled', fanned_out_at = updated_at"
        " WHERE fanned_out_at IS NULL AND status IN ('cancelled', 'scheduled')"
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("send_at")
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_communications_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_communications_status"), f"status IN ({_BEFORE})"
        )
        batch_op.drop_column("send_at")
