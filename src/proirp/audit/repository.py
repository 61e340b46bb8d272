"""Queries for reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from proirp.audit.models import AuditLog


def list_audit_logs(
    session: Session,
    *,
    user_id: str | None,
    client_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditLog]:
    """Newest first, at most `limit` + 1 rows so the caller can tell whether more exist."""
    stmt = select(AuditLog)
    if user_id:
        stmt = stmt.where(AuditLog.actor_user_id == user_id)
    if client_id:
        stmt = stmt.where(AuditLog.client_id == client_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at < until)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    return session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit + 1)).all()


@dataclass(frozen=True)
class Head:
    """The newest chained row of the audit log: its place in the chain (`seq`) and its hash."""

    row_id: int
    row_hash: str


def read_head(engine: Engine) -> Head | None:
    """The newest chained row, read outside any transaction: on SQLite a transaction here
    takes the write lock first (kit.db), and anchoring must never wait for writers."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(
                "SELECT seq, hash FROM audit_logs WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
            )
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool, which ends any transaction the driver began
    return None if row is None else Head(int(row[0]), str(row[1]))
