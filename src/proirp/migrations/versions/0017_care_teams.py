"""care teams and break-glass grants: which clinicians may see which clients

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proirp.kit.crypto
import proirp.kit.time

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "care_team_members",
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("assigned_by_user_id", sa.String(length=32), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["assigned_by_user_id"],
            ["users.id"],
            name=op.f("fk_care_team_members_assigned_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_care_team_members_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_care_team_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_members")),
        sa.UniqueConstraint("client_id", "user_id", name=op.f("uq_care_team_members_client_id")),
    )
    with op.batch_alter_table("care_team_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_team_members_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_care_team_members_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_care_team_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "break_glass_grants",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("reason", proirp.kit.crypto.EncryptedText(), nullable=False),
        sa.Column("expires_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", proirp.kit.time.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_user_id", sa.String(length=32), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_break_glass_grants_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["users.id"],
            name=op.f("fk_break_glass_grants_reviewed_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_break_glass_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_break_glass_grants_user_client", ["user_id", "client_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("break_glass_grants")
    op.drop_table("care_team_members")
