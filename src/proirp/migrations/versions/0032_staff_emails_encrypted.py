"""staff accounts' email addresses encrypted at rest, found and kept one an account by their
keyed hash (users.email_hash), under the database's key of 0028 (decision 0037)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from proirp.auth.models import staff_email_hash
from proirp.migrations.sealing import ENCRYPTED_BEFORE, the_practices_vault, the_search_key

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
USERS = "SELECT count(*) FROM users"
UNIQUE = "uq_users_email_hash"
# What already holds values encrypted with the practice's keys, the hash key first.
ENCRYPTED = (
    ("search_keys", "sealed"),
    ("clients", "first_name"),
    ("communications", "to_address"),
    *ENCRYPTED_BEFORE,
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name != "sqlite"
    if postgres:
        # SQLite keeps its UNIQUE (email) constraint: dropping it would rebuild `users`, which
        # most tables refer to, and it holds tokens, each unique (env.py leaves it out of
        # `db check`). SQLite keeps a token in a VARCHAR column as text.
        op.drop_constraint("uq_users_email", "users", type_="unique")
        op.alter_column("users", "email", type_=sa.Text())
    with op.batch_alter_table("users") as batch_op:
        # NOT NULL from the start, with a default until the rows there are hashed (as 0031).
        batch_op.add_column(
            sa.Column("email_hash", sa.String(length=32), nullable=False, server_default="")
        )
    if bind.execute(sa.text(USERS)).scalar_one():
        vault = the_practices_vault("staff accounts' email addresses", ENCRYPTED)
        key = the_search_key(vault)
        read = sa.text("SELECT id, email FROM users WHERE id > :after ORDER BY id LIMIT :batch")
        write = sa.text("UPDATE users SET email = :sealed, email_hash = :hashed WHERE id = :id")
        after = ""
        while rows := bind.execute(read, {"after": after, "batch": BATCH}).all():
            sealed = [
                {"id": uid, "sealed": vault.encrypt(email), "hashed": staff_email_hash(key, email)}
                for uid, email in rows
            ]
            bind.execute(write, sealed)
            after = rows[-1][0]
    if postgres:
        op.alter_column("users", "email_hash", server_default=None)
    op.create_index(UNIQUE, "users", ["email_hash"], unique=True)


def downgrade() -> None:
    """Back to addresses in clear: refused while there are staff accounts (it would write
    their addresses in clear)."""
    bind = op.get_bind()
    if bind.execute(sa.text(USERS)).scalar_one():
        raise RuntimeError(
            "staff accounts' email addresses are encrypted from revision 0032 on; going back "
            "would write them in clear"
        )
    op.drop_index(UNIQUE, table_name="users")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("email_hash")
    if bind.dialect.name != "sqlite":
        op.alter_column("users", "email", type_=sa.String(length=320))
        op.create_unique_constraint("uq_users_email", "users", ["email"])
