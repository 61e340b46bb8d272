"""Queries for reading the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
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
