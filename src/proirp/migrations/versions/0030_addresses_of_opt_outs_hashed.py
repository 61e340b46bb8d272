"""opt-outs' addresses encrypted at rest and found by keyed hashes (opt_outs.address_hash);
automatic-reply marks keep a number's keyed hash only (auto_reply_marks.address_hash), under the
database's key of 0028 (decision 0035)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from proirp.clients.identity import keyed_address
from proirp.migrations.sealing import ENCRYPTED_BEFORE, the_practices_vault, the_search_key

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
OPT_OUTS = "SELECT count(*) FROM opt_outs"
MARKS = "SELECT count(*) FROM auto_reply_marks"


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("opt_outs") as batch_op:
        batch_op.drop_index("ix_opt_outs_channel_address")
        batch_op.add_column(sa.Column("address_hash", sa.String(length=32), nullable=True))
        if bind.dialect.name != "sqlite":
            # SQLite keeps a token in a VARCHAR column as text (env.py's comparison knows).
            batch_op.alter_column("address", type_=sa.Text())
    with op.batch_alter_table("auto_reply_marks") as batch_op:
        batch_op.alter_column("address", new_column_name="address_hash")
    if bind.execute(sa.text(OPT_OUTS)).scalar_one() or bind.execute(sa.text(MARKS)).scalar_one():
        vault = the_practices_vault(
            "opt-outs' addresses",
            (("search_keys", "sealed"), ("clients", "first_name"), *ENCRYPTED_BEFORE),
        )
        key = the_search_key(vault)
        _seal_opt_outs(bind, vault.encrypt, key)
        _hash_marks(bind, key)
    with op.batch_alter_table("opt_outs") as batch_op:
        batch_op.alter_column("address_hash", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(
            "ix_opt_outs_channel_address_hash", ["channel", "address_hash"], unique=False
        )


def _seal_opt_outs(bind: sa.Connection, encrypt: Callable[[str], str], key: bytes) -> None:
    read = sa.text(
        "SELECT id, channel, address FROM opt_outs WHERE id > :after ORDER BY id LIMIT :batch"
    )
    write = sa.text("UPDATE opt_outs SET address = :sealed, address_hash = :hashed WHERE id = :id")
    after = ""
    while rows := bind.execute(read, {"after": after, "batch": BATCH}).all():
        sealed = [
            {"id": oid, "sealed": encrypt(address), "hashed": keyed_address(key, channel, address)}
            for oid, channel, address in rows
        ]
        bind.execute(write, sealed)
        after = rows[-1][0]


def _hash_marks(bind: sa.Connection, key: bytes) -> None:
    """Each mark's number (every mark is of an SMS reply) replaced by its keyed hash; two
    spellings of one number (space around it) become one mark, the later."""
    marks = bind.execute(sa.text("SELECT address_hash, purpose, sent_at FROM auto_reply_marks"))
    latest: dict[tuple[str, str], object] = {}
    for number, purpose, sent_at in marks.all():
        hashed = (keyed_address(key, "sms", number), purpose)
        latest[hashed] = max(latest.get(hashed, sent_at), sent_at)
    bind.execute(sa.text("DELETE FROM auto_reply_marks"))
    if latest:
        bind.execute(
            sa.text(
                "INSERT INTO auto_reply_marks (address_hash, purpose, sent_at)"
                " VALUES (:hashed, :purpose, :sent_at)"
            ),
            [{"hashed": h, "purpose": p, "sent_at": at} for (h, p), at in latest.items()],
        )


def downgrade() -> None:
    """Back to addresses in clear: refused while there are opt-outs (it would write them in
    clear). The automatic-reply marks are let go: a hash cannot be turned back into its number,
    and a mark only holds back a second after-hours reply within 12 hours."""
    bind = op.get_bind()
    if bind.execute(sa.text(OPT_OUTS)).scalar_one():
        raise RuntimeError(
            "opt-outs' addresses are encrypted from revision 0030 on; going back would write "
            "them in clear"
        )
    op.execute("DELETE FROM auto_reply_marks")
    with op.batch_alter_table("auto_reply_marks") as batch_op:
        batch_op.alter_column("address_hash", new_column_name="address")
    with op.batch_alter_table("opt_outs") as batch_op:
        batch_op.drop_index("ix_opt_outs_channel_address_hash")
        batch_op.drop_column("address_hash")
        if bind.dialect.name != "sqlite":
            batch_op.alter_column("address", type_=sa.String(length=320))
        batch_op.create_index("ix_opt_outs_channel_address", ["channel", "address"], unique=False)
