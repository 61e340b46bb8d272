"""dates of birth encrypted at rest: clients.date_of_birth holds a vault token of the date's ISO
form (decision 0034); on PostgreSQL the column becomes text

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from proirp.migrations.sealing import ENCRYPTED_BEFORE, the_practices_vault

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
KNOWN = "SELECT count(*) FROM clients WHERE date_of_birth IS NOT NULL"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        # SQLite keeps a token in a DATE column as text (env.py's comparison knows).
        op.alter_column(
            "clients",
            "date_of_birth",
            type_=sa.Text(),
            postgresql_using="to_char(date_of_birth, 'YYYY-MM-DD')",
        )
    if bind.execute(sa.text(KNOWN)).scalar_one() == 0:
        return
    # Clients' names are encrypted from 0028 on: one of them shows the keys are the database's
    # even where it holds nothing else encrypted.
    vault = the_practices_vault(
        "clients' dates of birth", (("clients", "first_name"), *ENCRYPTED_BEFORE)
    )
    read = sa.text(
        "SELECT id, date_of_birth FROM clients WHERE date_of_birth IS NOT NULL AND id > :after"
        " ORDER BY id LIMIT :batch"
    )
    write = sa.text("UPDATE clients SET date_of_birth = :sealed WHERE id = :id")
    after = ""
    while rows := bind.execute(read, {"after": after, "batch": BATCH}).all():
        sealed = [{"id": cid, "sealed": vault.encrypt(_iso(cid, born))} for cid, born in rows]
        bind.execute(write, sealed)
        after = rows[-1][0]


def _iso(client_id: str, born: object) -> str:
    """The stored date as `YYYY-MM-DD`; refused, naming the client (never the value), if it is
    not one: encrypted, no SQL could correct it, and every read of the client would fail."""
    try:
        return date.fromisoformat(str(born)[:10]).isoformat()
    except ValueError:
        raise RuntimeError(
            f"client {client_id} has a date of birth that is not a date (YYYY-MM-DD): correct "
            "it, then upgrade"
        ) from None


def downgrade() -> None:
    """Back to dates in clear: refused while any client has one (it would write them in clear)."""
    if op.get_bind().execute(sa.text(KNOWN)).scalar_one():
        raise RuntimeError(
            "clients' dates of birth are encrypted from revision 0029 on; going back would write "
            "them in clear"
        )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "clients", "date_of_birth", type_=sa.Date(), postgresql_using="date_of_birth::date"
        )
