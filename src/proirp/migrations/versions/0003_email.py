"""email: HTML parts, per-recipient substitutions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.crypto

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=True))

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", proirp.kit.crypto.EncryptedText(), nullable=True))

    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("body_html", proirp.kit.crypto.EncryptedText(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("substitutions", proirp.kit.crypto.EncryptedText(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_column("substitutions")
        batch_op.drop_column("body_html")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("html")

    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("html")
