"""Walk the audit chain and report the first row that does not fit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.chain import canonical_row, chain_hash
from proirp.audit.models import GENESIS_HASH, AuditLog


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session, *, batch_size: int = 1000) -> ChainReport:
    """Check every row in order: its content matches its hash and it follows the row before it."""
    expected_prev = GENESIS_HASH
    checked = 0
    rows = session.execute(
        select(AuditLog).order_by(AuditLog.id).execution_options(yield_per=batch_size)
    ).scalars()
    for row in rows:
        if row.prev_hash != expected_prev:
            return ChainReport(
                False,
                checked,
                row.id,
                "does not follow the row before it (a row was removed, inserted or reordered)",
            )
        canonical = canonical_row(
            created_at=row.created_at,
            actor_user_id=row.actor_user_id,
            action=row.action,
            client_id=row.client_id,
            ip=row.ip,
            user_agent=row.user_agent,
            details=row.details,
        )
        if chain_hash(row.prev_hash, canonical) != row.hash:
            return ChainReport(False, checked, row.id, "content does not match its hash (edited)")
        expected_prev = row.hash
        checked += 1
    return ChainReport(True, checked)
