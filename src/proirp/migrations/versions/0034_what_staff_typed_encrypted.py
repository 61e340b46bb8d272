"""campaigns' selections encrypted at rest (campaigns.selection: the clients chosen, or the
filter with the words staff typed), as JSON text under the vault, and so is the inbox's on-call
address (inbox_settings.on_call_email) (decision 0037)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from proirp.migrations.sealing import ENCRYPTED_BEFORE, seal_column, the_practices_vault

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 200
CAMPAIGNS = "SELECT count(*) FROM campaigns"
ON_CALL = "SELECT count(*) FROM inbox_settings WHERE on_call_email IS NOT NULL"
# What already holds values encrypted with the practice's keys.
ENCRYPTED = (("users", "email"), *ENCRYPTED_BEFORE)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        # A token is text; the default '{}' would be read as one. SQLite keeps its JSON column
        # (it stores text as text) and its default, which the product never leaves to it.
        op.alter_column(
            "campaigns",
            "selection",
            type_=sa.Text(),
            postgresql_using="selection::text",
            server_default=None,
        )
        op.alter_column("inbox_settings", "on_call_email", type_=sa.Text())
    if bind.execute(sa.text(CAMPAIGNS)).scalar_one() or bind.execute(sa.text(ON_CALL)).scalar():
        vault = the_practices_vault("campaigns' selections and an on-call address", ENCRYPTED)
        seal_column(bind, vault.encrypt, "campaigns", "selection", BATCH)
        seal_column(bind, vault.encrypt, "inbox_settings", "on_call_email")


def downgrade() -> None:
    """Back to values in clear: refused while there are campaigns or an on-call address (it
    would write them in clear)."""
    bind = op.get_bind()
    if bind.execute(sa.text(CAMPAIGNS)).scalar_one() or bind.execute(sa.text(ON_CALL)).scalar():
        raise RuntimeError(
            "campaigns' selections and the on-call address are encrypted from revision 0034 on; "
            "going back would write them in clear"
        )
    if bind.dialect.name != "sqlite":
        op.alter_column("inbox_settings", "on_call_email", type_=sa.String(length=320))
        op.alter_column(
            "campaigns",
            "selection",
            type_=sa.JSON(),
            postgresql_using="selection::json",
            server_default=sa.text("'{}'"),
        )
