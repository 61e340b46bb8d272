"""client search by substring on PostgreSQL: trigram indexes (pg_trgm) on the lower-cased names
and email, and on the phone

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What clients/repository.list_clients() searches: lower(column) LIKE '%q%' for the names and
# email, phone LIKE '%digits%'. A GIN trigram index answers both without reading the table.
INDEXES = {
    "ix_clients_first_name_trgm": "lower(first_name) gin_trgm_ops",
    "ix_clients_last_name_trgm": "lower(last_name) gin_trgm_ops",
    "ix_clients_email_trgm": "lower(email) gin_trgm_ops",
    "ix_clients_phone_trgm": "phone gin_trgm_ops",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no trigram index; its search reads the table
    # A trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON clients USING gin ({expression})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
