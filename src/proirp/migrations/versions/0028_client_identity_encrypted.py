"""client identity encrypted at rest: names, phone and email as vault tokens, found by keyed
hashes (clients.phone_hash) and hashed pieces (client_search_grams) under a
key of the database's own (search_keys); the trigram indexes and SQLite's search table go, and
the list's order (created_at, id) gets an index of its own

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05
"""

import base64
import importlib.util
import secrets
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

import proirp.kit.crypto
from proirp.clients.identity import KEY_NAME, client_pieces, with_hashes
from proirp.migrations.sealing import the_practices_vault

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("first_name", "last_name", "phone", "email")
SQLITE_SEARCH_TRIGGERS = ("insert", "update", "delete")
TRIGRAM_INDEXES = ("first_name", "last_name", "email", "phone")
BATCH = 500


def _drop_clear_text_search() -> None:
    """What searched the names in clear: SQLite's FTS5 table (0022), PostgreSQL's trigram
    indexes (0013), and the plain indexes of the names, phone and email (0001)."""
    if op.get_bind().dialect.name == "sqlite":
        for trigger in SQLITE_SEARCH_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS clients_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS clients_search")
        op.execute("DROP TABLE IF EXISTS clients_search_rows")
    else:
        for field in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS ix_clients_{field}_trgm")
    for field in ("last_name", "phone", "email"):
        op.drop_index(f"ix_clients_{field}", table_name="clients")


def upgrade() -> None:
    _drop_clear_text_search()
    op.create_table(
        "search_keys",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("sealed", proirp.kit.crypto.EncryptedText(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_keys")),
    )
    op.create_table(
        "client_search_grams",
        sa.Column("gram", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_search_grams_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("gram", "client_id", name=op.f("pk_client_search_grams")),
    )
    op.create_index(op.f("ix_client_search_grams_client_id"), "client_search_grams", ["client_id"])
    if op.get_bind().dialect.name != "sqlite":
        # SQLite keeps text as text whatever width it declares (env.py's comparison knows).
        for field in FIELDS:
            op.alter_column("clients", field, type_=sa.Text())
    op.add_column("clients", sa.Column("phone_hash", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_clients_phone_hash"), "clients", ["phone_hash"])
    op.create_index("ix_clients_created_at_id", "clients", ["created_at", "id"])
    _encrypt_existing()


def _encrypt_existing() -> None:
    """Every client's fields encrypted in place, with its hashes and pieces."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM clients")).scalar_one() == 0:
        return
    vault = the_practices_vault("clients' names, phones and emails")
    key = secrets.token_bytes(32)
    bind.execute(
        sa.text("INSERT INTO search_keys (name, sealed) VALUES (:name, :sealed)"),
        {"name": KEY_NAME, "sealed": vault.encrypt(base64.b64encode(key).decode())},
    )
    read = sa.text(
        "SELECT id, first_name, last_name, phone, email FROM clients"
        " WHERE id > :after ORDER BY id LIMIT :batch"
    )
    write = sa.text(
        "UPDATE clients SET first_name = :first_name, last_name = :last_name, phone = :phone,"
        " email = :email, phone_hash = :phone_hash WHERE id = :id"
    )
    grams = sa.text("INSERT INTO client_search_grams (gram, client_id) VALUES (:gram, :client_id)")
    after = ""
    while rows := bind.execute(read, {"after": after, "batch": BATCH}).mappings().all():
        for row in rows:
            sealed = {f: None if row[f] is None else vault.encrypt(row[f]) for f in FIELDS}
            bind.execute(write, {**with_hashes(key, dict(row)), **sealed})
            pieces = [{"gram": g, "client_id": row["id"]} for g in client_pieces(key, dict(row))]
            if pieces:
                bind.execute(grams, pieces)
        after = rows[-1]["id"]


def downgrade() -> None:
    """Back to names in clear: refused while there are clients (it would write them in clear);
    an empty database gets its tables and indexes of revision 0027 back."""
    if op.get_bind().execute(sa.text("SELECT count(*) FROM clients")).scalar_one():
        raise RuntimeError(
            "client names, phones and emails are encrypted from revision 0028 on; going back "
            "would write them in clear"
        )
    op.drop_index("ix_clients_created_at_id", table_name="clients")
    op.drop_index(op.f("ix_clients_phone_hash"), table_name="clients")
    with op.batch_alter_table("clients") as batch_op:
        batch_op.drop_column("phone_hash")
        if op.get_bind().dialect.name != "sqlite":
            for field, width in WIDTHS.items():
                batch_op.alter_column(field, type_=sa.String(length=width))
    op.drop_index(op.f("ix_client_search_grams_client_id"), table_name="client_search_grams")
    op.drop_table("client_search_grams")
    op.drop_table("search_keys")
    for field in ("last_name", "phone", "email"):
        op.create_index(f"ix_clients_{field}", "clients", [field])
    _restore_clear_text_search()


WIDTHS = {"first_name": 100, "last_name": 100, "phone": 20, "email": 320}


def _restore_clear_text_search() -> None:
    """Revision 0027's search: its migrations 0013 and 0022 say what it was."""
    versions = Path(__file__).parent
    if op.get_bind().dialect.name == "sqlite":
        for statement in _module(versions / "0022_lists_at_size.py").SQLITE_SEARCH:
            op.execute(statement)
        return
    for name, expression in _module(versions / "0013_client_search_trigrams.py").INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON clients USING gin ({expression})")
        op.execute(f"ALTER INDEX {name} SET (fastupdate = off)")


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
