"""calendar accounts' email addresses encrypted at rest (calendar_integrations.account_email):
only ever shown, never looked up (decision 0037)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from proirp.migrations.sealing import ENCRYPTED_BEFORE, seal_column, the_practices_vault

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESSES = "SELECT count(*) FROM calendar_integrations WHERE account_email IS NOT NULL"
# What already holds values encrypted with the practice's keys.
ENCRYPTED = (("users", "email"), *ENCRYPTED_BEFORE)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        # SQLite keeps a token in a VARCHAR column as text (env.py's comparison knows).
        op.alter_column("calendar_integrations", "account_email", type_=sa.Text())
    if not bind.execute(sa.text(ADDRESSES)).scalar_one():
        return
    vault = the_practices_vault("calendar accounts' email addresses", ENCRYPTED)
    seal_column(bind, vault.encrypt, "calendar_integrations", "account_email")


def downgrade() -> None:
    """Back to addresses in clear: refused while a calendar account has one (it would write
    them in clear)."""
    bind = op.get_bind()
    if bind.execute(sa.text(ADDRESSES)).scalar_one():
        raise RuntimeError(
            "calendar accounts' email addresses are encrypted from revision 0033 on; going back "
            "would write them in clear"
        )
    if bind.dialect.name != "sqlite":
        op.alter_column("calendar_integrations", "account_email", type_=sa.String(length=320))
