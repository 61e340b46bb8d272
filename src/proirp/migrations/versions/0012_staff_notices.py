"""staff notices: the notices sent to staff about the product itself, each once; when a calendar
moved to needs_reauth

A calendar already in needs_reauth is taken to have been so since its row last changed, so its
owner is told once after the upgrade.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'calendar_needs_reauth', 'campaign_problems', 'webhook_failures'"


def upgrade() -> None:
    op.create_table(
        "staff_notices",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_key", sa.String(length=100), nullable=False),
        sa.Column("sent_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("communication_id", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_staff_notices_kind")),
        sa.ForeignKeyConstraint(
            ["communication_id"],
            ["communications.id"],
            name=op.f("fk_staff_notices_communication_id_communications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notices")),
        sa.UniqueConstraint("kind", "subject_key", name=op.f("uq_staff_notices_kind")),
    )
    with op.batch_alter_table("calendar_integrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "needs_reauth_since", proirp.kit.time.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute(
        "UPDATE calendar_integrations SET needs_reauth_since = updated_at "
        "WHERE status = 'needs_reauth'"
    )


def downgrade() -> None:
    with op.batch_alter_table("calendar_integrations", schema=None) as batch_op:
        batch_op.drop_column("needs_reauth_since")
    op.drop_table("staff_notices")
