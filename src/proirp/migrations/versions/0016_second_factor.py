"""second factor: TOTP secrets (encrypted), recovery codes (digests), sign-ins waiting for a code

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.crypto
import proirp.kit.time

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = proirp.kit.time.UTCDateTime(timezone=True)


def _common(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "second_factors",
        sa.Column("totp_secret", proirp.kit.crypto.EncryptedText(), nullable=False),
        sa.Column("confirmed_at", UTC_TIME, nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        *_common("second_factors"),
        sa.UniqueConstraint("user_id", name=op.f("uq_second_factors_user_id")),
    )
    with op.batch_alter_table("second_factors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_second_factors_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "recovery_codes",
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        *_common("recovery_codes"),
        sa.UniqueConstraint("code_digest", name=op.f("uq_recovery_codes_code_digest")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recovery_codes_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recovery_codes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "login_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        *_common("login_challenges"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_challenges_token_hash")),
    )
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_challenges_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_challenges_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_login_challenges_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    for table in ("login_challenges", "recovery_codes", "second_factors"):
        op.drop_table(table)
