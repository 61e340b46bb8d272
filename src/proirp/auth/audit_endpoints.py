"""/audit-logs (admins only): read the trail with filters, and verify the hash chain.

Served from auth, which decides who is an admin: the audit package below it records and checks
the trail for every domain, auth included, and knows nothing of users.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from proirp.audit import repository
from proirp.audit.actions import AuditAction
from proirp.audit.anchor_file import anchor_store
from proirp.audit.schemas import AuditLogList, AuditLogOut, ChainReportOut
from proirp.audit.service import record_audit
from proirp.audit.verify import verify_chain
from proirp.auth.dependencies import AdminUser
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.input import DATE_TIME, iso_time
from proirp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/audit-logs", tags=["audit"])

# Ids are BIGINT; a larger cursor was never issued and would overflow the query parameter.
_MAX_ID = 2**63 - 1


def _before_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if int(cursor) > _MAX_ID:
        raise ValidationFailed("cursor is not one this API issued", fields={"cursor": "unknown"})
    return int(cursor)


@router.get("", response_model=AuditLogList, summary="Read the audit trail (admins)")
def list_audit_logs(
    session: SessionDep,
    admin: AdminUser,
    origin: OriginDep,
    user_id: Annotated[str | None, Query(max_length=32)] = None,
    client_id: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=64, json_schema_extra=DATE_TIME)] = None,
    until: Annotated[str | None, Query(max_length=64, json_schema_extra=DATE_TIME)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,19}$")] = None,
) -> dict[str, Any]:
    since_at, until_at = iso_time("since", since), iso_time("until", until)
    rows = repository.list_audit_logs(
        session,
        user_id=user_id,
        client_id=client_id,
        action=action,
        since=since_at,
        until=until_at,
        before_id=_before_id(cursor),
        limit=limit,
    )
    page, more = rows[:limit], len(rows) > limit
    filters = {
        "user_id": user_id,
        "client_id": client_id,
        "action": action,
        "since": since_at.isoformat() if since_at else None,
        "until": until_at.isoformat() if until_at else None,
    }
    record_audit(
        session,
        actor=admin.id,
        action=AuditAction.AUDIT_LOG_VIEWED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"filters": {k: v for k, v in filters.items() if v}, "rows": len(page)},
    )
    return {
        "ok": True,
        "audit_logs": [AuditLogOut.model_validate(r).model_dump(mode="json") for r in page],
        "next_cursor": str(page[-1].id) if more else None,
    }


@router.post("/verify", response_model=ChainReportOut, summary="Verify the audit chain (admins)")
def verify(
    session: SessionDep, admin: AdminUser, origin: OriginDep, settings: SettingsDep
) -> dict[str, Any]:
    report = verify_chain(session, anchors=anchor_store(settings))
    record_audit(
        session,
        actor=admin.id,
        action=AuditAction.AUDIT_CHAIN_VERIFIED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"intact": report.ok, "rows_checked": report.rows_checked},
    )
    return {
        "ok": True,
        "intact": report.ok,
        "rows_checked": report.rows_checked,
        "first_bad_id": report.first_bad_id,
        "problem": report.problem,
        "anchored_id": report.anchored_id,
        "anchored_at": report.anchored_at,
    }
