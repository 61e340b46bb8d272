"""/audit-logs (admins only): read the trail with filters, and verify the hash chain.

Served from auth, which decides who is an admin: the audit package below it records and checks
the trail for every domain, auth included, and knows nothing of users.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from proirp.audit.reading import LogFilters, read_log, verify_log
from proirp.audit.schemas import AuditLogList, AuditLogOut, ChainReportOut
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
    filters = LogFilters(user_id, client_id, action, since_at, until_at)
    page, more = read_log(
        session, filters, actor=admin.id, origin=origin, before_id=_before_id(cursor), limit=limit
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
    report = verify_log(session, settings, actor=admin.id, origin=origin)
    return {
        "ok": True,
        "intact": report.ok,
        "rows_checked": report.rows_checked,
        "first_bad_id": report.first_bad_id,
        "problem": report.problem,
        "anchored_id": report.anchored_id,
        "anchored_at": report.anchored_at,
        "unchained": report.unchained,
    }
