"""staff lifecycle: one-time password reset links

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.time

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "password_reset_links",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("expires_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by_user_id"],
            ["users.id"],
            name=op.f("fk_password_reset_links_issued_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_reset_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_links_token_hash")),
    )
    with op.batch_alter_table("password_reset_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_password_reset_links_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_password_reset_links_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("password_reset_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_reset_links_user_id"))
        batch_op.drop_index(batch_op.f("ix_password_reset_links_created_at"))
    op.drop_table("password_reset_links")
