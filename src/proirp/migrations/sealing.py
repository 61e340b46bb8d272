"""What a migration that encrypts values already stored needs: the practice's keys, which only
`proirp db upgrade` passes (Alembic on its own has none), checked against a value the database
already holds encrypted before anything is encrypted with them (migrations 0028 to 0034)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from proirp.clients.identity import KEY_NAME
from proirp.kit.crypto import Vault, VaultError

# Columns the vault has encrypted since the first revisions: one of their values read back shows
# that the keys given are the database's own.
ENCRYPTED_BEFORE = (
    ("communications", "body"),
    ("calendar_integrations", "access_token"),
    ("second_factors", "totp_secret"),
)


def the_practices_vault(
    what: str, encrypted: Sequence[tuple[str, str]] = ENCRYPTED_BEFORE
) -> Vault:
    """The vault `proirp db upgrade` passed, checked against the first value found of the
    `encrypted` columns (table, column); refused (nothing changed) without one, or with keys
    that cannot read it. `what` names what is about to be encrypted, for the message."""
    vault = context.config.attributes.get("vault")
    if not isinstance(vault, Vault):
        raise RuntimeError(
            f"this database has {what}, which are now encrypted: run `proirp db upgrade`, "
            "which has the encryption keys"
        )
    _check_the_keys(vault, encrypted)
    return vault


def _check_the_keys(vault: Vault, encrypted: Sequence[tuple[str, str]]) -> None:
    """Refuse keys that cannot read what the database holds (a development key made in place of
    the practice's): nothing encrypted with them could be read again."""
    bind = op.get_bind()
    for table, column in encrypted:
        token = bind.execute(
            sa.text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1")  # noqa: S608
        ).scalar()
        if token is not None:
            try:
                vault.decrypt(token)
            except VaultError as exc:
                raise RuntimeError(
                    "the encryption keys given cannot read this database's encrypted values; "
                    "set PROIRP_ENCRYPTION_KEYS to the practice's keys before upgrading"
                ) from exc
            return


def the_search_key(vault: Vault) -> bytes:
    """The database's key for keyed hashes (clients/identity.py), read with `vault`; made and
    kept, as the product would make it, if the database has none yet."""
    bind = op.get_bind()
    read = sa.text("SELECT sealed FROM search_keys WHERE name = :name")
    sealed = bind.execute(read, {"name": KEY_NAME}).scalar()
    if sealed is not None:
        return base64.b64decode(vault.decrypt(sealed))
    key = secrets.token_bytes(32)
    bind.execute(
        sa.text("INSERT INTO search_keys (name, sealed) VALUES (:name, :sealed)"),
        {"name": KEY_NAME, "sealed": vault.encrypt(base64.b64encode(key).decode())},
    )
    return key


def seal_column(
    bind: sa.Connection, encrypt: Callable[[str], str], table: str, column: str, batch: int = 500
) -> None:
    """Encrypt `column` of every row of `table` (keyed by `id`) that holds a value, in batches:
    for a value only ever shown, never looked up (migrations 0033 and 0034)."""
    # The names are the migration's constants: no value from outside reaches the statements.
    read = sa.text(
        f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
        " AND id > :after ORDER BY id LIMIT :batch"
    )
    write = sa.text(f"UPDATE {table} SET {column} = :sealed WHERE id = :id")  # noqa: S608
    after = ""
    while rows := bind.execute(read, {"after": after, "batch": batch}).all():
        bind.execute(write, [{"id": i, "sealed": encrypt(value)} for i, value in rows])
        after = rows[-1][0]
