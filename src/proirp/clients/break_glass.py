"""Break-glass: a clinician's emergency access to one client outside their care team.

Opened for a stated reason (kept encrypted, never logged or audited), for at most four hours;
it ends by itself. It is audited when opened (BREAK_GLASS_OPENED) and on every access under it
(BREAK_GLASS_USED, by `access.can_reach`), and admins review each grant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients import repository
from proirp.clients.access import on_care_team, open_grant
from proirp.clients.access_models import BreakGlassGrant
from proirp.clients.access_schemas import BreakGlassOpen, BreakGlassOut
from proirp.kit.errors import Conflict, NotFound, ValidationFailed
from proirp.kit.pagination import Cursor, PageParams
from proirp.kit.time import utcnow


def view(grant: BreakGlassGrant, *, with_reason: bool) -> BreakGlassOut:
    return BreakGlassOut(
        id=grant.id,
        user_id=grant.user_id,
        client_id=grant.client_id,
        opened_at=grant.created_at,
        expires_at=grant.expires_at,
        active=grant.expires_at > utcnow(),
        reason=grant.reason if with_reason else None,
        reviewed_at=grant.reviewed_at,
        reviewed_by_user_id=grant.reviewed_by_user_id,
    )


def open_break_glass(
    session: Session, body: BreakGlassOpen, *, user_id: str, origin: RequestOrigin
) -> BreakGlassGrant:
    """Open a grant for the caller (a clinician) to the client, until `minutes` from now."""
    if repository.get_client(session, body.client_id) is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    if on_care_team(session, user_id, body.client_id):
        raise ValidationFailed(
            "you are on this client's care team: no emergency access is needed",
            fields={"client_id": "already on your care team"},
        )
    if open_grant(session, user_id, body.client_id) is not None:
        raise Conflict("you already have emergency access to this client", code="break_glass_open")
    grant = BreakGlassGrant(
        user_id=user_id,
        client_id=body.client_id,
        reason=body.reason,
        expires_at=utcnow() + timedelta(minutes=body.minutes),
    )
    session.add(grant)
    session.flush()
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.BREAK_GLASS_OPENED,
        client_id=grant.client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"grant_id": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


def list_grants(
    session: Session,
    *,
    user_id: str,
    everyone: bool,
    page: PageParams,
    origin: RequestOrigin,
) -> tuple[Sequence[BreakGlassGrant], str | None]:
    """Grants newest first: every one (`everyone`, for admins' review) or the caller's own."""
    stmt = select(BreakGlassGrant)
    if not everyone:
        stmt = stmt.where(BreakGlassGrant.user_id == user_id)
    if page.cursor is not None:
        stmt = stmt.where(page.cursor.before(BreakGlassGrant.created_at, BreakGlassGrant.id))
    stmt = stmt.order_by(BreakGlassGrant.created_at.desc(), BreakGlassGrant.id.desc())
    rows = session.scalars(stmt.limit(page.limit + 1)).all()
    shown, more = rows[: page.limit], len(rows) > page.limit
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.BREAK_GLASS_LISTED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={
            "grant_ids": [g.id for g in shown],
            "client_ids": sorted({g.client_id for g in shown}),
        },
    )
    next_cursor = Cursor(shown[-1].created_at, shown[-1].id).encode() if more else None
    return shown, next_cursor


def review(
    session: Session, grant_id: str, *, user_id: str, origin: RequestOrigin
) -> BreakGlassGrant:
    """An admin marks a grant reviewed (once)."""
    grant = session.get(BreakGlassGrant, grant_id, with_for_update=True)
    if grant is None:
        raise NotFound("no break-glass grant with that id", code="grant_not_found")
    if grant.reviewed_at is not None:
        raise Conflict("the grant has already been reviewed", code="already_reviewed")
    grant.reviewed_at = utcnow()
    grant.reviewed_by_user_id = user_id
    session.flush()
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.BREAK_GLASS_REVIEWED,
        client_id=grant.client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"grant_id": grant.id, "opened_by": grant.user_id},
    )
    return grant
