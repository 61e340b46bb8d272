"""Reading the audit log and checking its chain, each itself audited: what `GET /audit-logs`,
`POST /audit-logs/verify` and the staff UI's Audit log page do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from proirp.audit import repository
from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import anchor_store
from proirp.audit.chainer import chain_within
from proirp.audit.models import AuditLog
from proirp.audit.service import RequestOrigin, record_audit
from proirp.audit.verify import ChainReport, verify_chain
from proirp.config import Settings


@dataclass(frozen=True)
class LogFilters:
    user_id: str | None = None
    client_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def read_log(
    session: Session,
    filters: LogFilters,
    *,
    actor: str,
    origin: RequestOrigin,
    before_id: int | None,
    limit: int,
) -> tuple[Sequence[AuditLog], bool]:
    """A page of the log, newest first, and whether there is more; the read is recorded with
    its filters (ids and times only) and how many rows it showed."""
    rows = repository.list_audit_logs(
        session,
        user_id=filters.user_id,
        client_id=filters.client_id,
        action=filters.action,
        since=filters.since,
        until=filters.until,
        before_id=before_id,
        limit=limit,
    )
    page = rows[:limit]
    given = {
        "user_id": filters.user_id,
        "client_id": filters.client_id,
        "action": filters.action,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
    }
    record_audit(
        session,
        actor=actor,
        action=AuditAction.AUDIT_LOG_VIEWED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"filters": {k: v for k, v in given.items() if v}, "rows": len(page)},
    )
    return page, len(rows) > limit


def verify_log(
    session: Session, settings: Settings, *, actor: str, origin: RequestOrigin
) -> ChainReport:
    """Chain what is waiting, check the whole chain against its anchors, and record that it was
    checked."""
    chain_within(session)
    report = verify_chain(session, anchors=anchor_store(settings))
    record_audit(
        session,
        actor=actor,
        action=AuditAction.AUDIT_CHAIN_VERIFIED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"intact": report.ok, "rows_checked": report.rows_checked},
    )
    return report
