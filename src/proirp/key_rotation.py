"""Key rotation: re-encrypt every encrypted column (`EncryptedText`, `EncryptedDate`) under the
vault's current key.

A module of its own above the domains: it reads the whole data model (`proirp.models`) and audits
the rotation, which the vault in `kit` must not know of.
"""

from __future__ import annotations

from sqlalchemy import Text, column, select, table, update
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.kit.crypto import ENCRYPTED_TYPES, current_vault
from proirp.models import Base


def encrypted_columns() -> list[tuple[str, str, str]]:
    """(table, primary key column, encrypted column) for every encrypted column in the model."""
    found = []
    for tbl in Base.metadata.sorted_tables:
        pk = next(iter(tbl.primary_key.columns)).name
        for col in tbl.columns:
            if isinstance(col.type, ENCRYPTED_TYPES):
                found.append((tbl.name, pk, col.name))
    return found


def rotate_encrypted_columns(session: Session, *, batch_size: int = 500) -> dict[str, int]:
    """Rotate every stored ciphertext in `session`'s transaction; returns counts per column."""
    vault = current_vault()
    counts: dict[str, int] = {}
    for table_name, pk_name, col_name in encrypted_columns():
        # Plain Text columns: read and write the ciphertext itself, not the decrypted value.
        raw = table(table_name, column(pk_name), column(col_name, Text))
        pk, value = raw.c[pk_name], raw.c[col_name]
        count, last = 0, None
        while True:
            stmt = select(pk, value).where(value.is_not(None)).order_by(pk).limit(batch_size)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = session.execute(stmt).all()
            if not rows:
                break
            for row_id, token in rows:
                session.execute(
                    update(raw).where(pk == row_id).values({col_name: vault.rotate(token)})
                )
            count += len(rows)
            last = rows[-1][0]
        counts[f"{table_name}.{col_name}"] = count
    record_audit(
        session, actor=None, action=AuditAction.ENCRYPTION_KEYS_ROTATED, details={"counts": counts}
    )
    return counts
