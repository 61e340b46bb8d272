"""The audit log (admins only): the trail filtered by staff member, client, action and dates,
newest first, a page at a time; and a check of the hash chain. Reading the log is itself audited,
as `GET /audit-logs` is, and so is the check, as `POST /audit-logs/verify` is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Query, Request
from fastapi.responses import Response

from proirp.audit.actions import AuditAction
from proirp.audit.reading import LogFilters, read_log, verify_log
from proirp.auth.repository import all_users
from proirp.comms.inbox.practice import inbox_practice
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.input import day_of
from proirp.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from proirp.web.rendering import render
from proirp.web.routing import AdminPage, CheckedForm, page_router

router = page_router()
_MAX_ID = 2**63 - 1  # ids are BIGINT: a larger cursor was never issued
ACTIONS = sorted(action.value for action in AuditAction)
Text = Annotated[str | None, Query(max_length=64)]


def _day(name: str, value: str | None) -> date | None:
    return day_of(name, value) if value else None


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 19 or int(value) > _MAX_ID:
        raise ValidationFailed("cursor is not one this page gave", fields={"cursor": "unknown"})
    return int(value)


@dataclass(frozen=True)
class Filters:
    """The page's filters as the form shows them; the dates are the practice's days."""

    user_id: str | None
    client_id: str | None
    action: str | None
    since: date | None
    until: date | None

    def shown(self) -> dict[str, str]:
        """The filters given, for the form and the paging links (ids, names, dates: no PHI)."""
        values = {
            "user_id": self.user_id,
            "client_id": self.client_id,
            "action": self.action,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v}


def _log_filters(filters: Filters, zone: ZoneInfo) -> LogFilters:
    """From the start of the first day to the end of the last, in the practice's time zone."""
    since = datetime.combine(filters.since, time.min, tzinfo=zone) if filters.since else None
    until = (
        datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=zone)
        if filters.until
        else None
    )
    return LogFilters(filters.user_id, filters.client_id, filters.action, since, until)


@router.get("/audit")
def audit_page(
    request: Request,
    admin: AdminPage,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    user_id: Annotated[str | None, Query(max_length=32)] = None,
    client_id: Annotated[str | None, Query(max_length=32)] = None,
    action: Text = None,
    since: Text = None,
    until: Text = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=19)] = None,
) -> Response:
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    filters = Filters(
        user_id or None,
        (client_id or "").strip() or None,
        action or None,
        _day("since", since),
        _day("until", until),
    )
    page, more = read_log(
        session,
        _log_filters(filters, zone),
        actor=admin.id,
        origin=origin,
        before_id=_cursor(cursor),
        limit=limit,
    )
    query = filters.shown() | ({"limit": str(limit)} if limit != DEFAULT_LIMIT else {})
    users = all_users(session)
    return render(
        request,
        "audit.html",
        user=admin,
        rows=page,
        details={r.id: json.dumps(r.details, sort_keys=True) if r.details else "" for r in page},
        users=users,
        emails={u.id: u.email for u in users},
        actions=ACTIONS,
        shown=filters.shown(),
        zone=zone,
        older=urlencode({**query, "cursor": page[-1].id}) if more else None,
        first_page=urlencode(query) if cursor else None,
    )


@router.post("/audit/verify")
def verify_page(
    request: Request,
    admin: AdminPage,
    _form: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> Response:
    report = verify_log(session, settings, actor=admin.id, origin=origin)
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    return render(request, "audit_verified.html", user=admin, report=report, zone=zone)
