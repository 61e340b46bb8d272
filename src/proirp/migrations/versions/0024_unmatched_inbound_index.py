"""an index of the inbound messages no client matched, newest first, so that a page of
GET /inbox/unmatched is the first entries of a range, not a sort of every such message

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_communications_unmatched_inbound"
UNMATCHED = sa.text("direction = 'inbound' AND client_id IS NULL")


def upgrade() -> None:
    op.create_index(
        NAME,
        "communications",
        ["created_at", "id"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="communications")
