"""Minimum necessary, in one place: which clients a member of staff may see.

Admins and front-desk staff see every client. A clinician sees the clients whose care team they
are on; one outside it only by that client's id while a break-glass grant of theirs is open
(each such access audited with the grant's id). Every route, page, list and search that reads
or changes clients' data asks here: `visible_to` filters a query for lists, `can_reach` answers
for one record (its caller refuses as for a record that does not exist), `require_reachable`
refuses a client named in a request body, naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import Role, User
from proirp.clients.access_models import BreakGlassGrant, CareTeamMember
from proirp.kit.db import in_batches
from proirp.kit.errors import ValidationFailed
from proirp.kit.time import utcnow

SEE_EVERY_CLIENT = frozenset({Role.ADMIN, Role.STAFF})


def sees_every_client(session: Session, user_id: str | None) -> bool:
    """Admins and front desk; None is the system itself (the worker, a provider's webhook)."""
    if user_id is None:
        return True
    user = session.get(User, user_id)
    return user is not None and user.role in SEE_EVERY_CLIENT


def care_team_client_ids(user_id: str) -> Select[str]:
    """The ids of the clients whose care team `user_id` is on (a subquery)."""
    return select(CareTeamMember.client_id).where(CareTeamMember.user_id == user_id)


def visible_to(
    session: Session,
    user_id: str | None,
    client_column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
) -> ColumnElement[bool]:
    """A condition for a list's query: rows whose `client_column` is a client `user_id` sees.
    For a clinician, rows of no client (an unmatched number) are left out too. Lists show the
    care team only: break-glass opens one client by id, not lists and searches."""
    if sees_every_client(session, user_id):
        return true()
    assert user_id is not None
    # The team's ids themselves, not a subquery: PostgreSQL then reads the few rows of those
    # clients from their indexes, where for a subquery it read a list newest first until it
    # had found a page of the team's (all of a million messages, for a small team).
    return client_column.in_(list(session.scalars(care_team_client_ids(user_id))))


def care_team_of(session: Session, user_id: str | None) -> set[str] | None:
    """The ids of the clients `user_id` sees in lists: None for every client (admins, staff)."""
    if sees_every_client(session, user_id):
        return None
    assert user_id is not None
    return set(session.scalars(care_team_client_ids(user_id)))


def on_care_team(session: Session, user_id: str, client_id: str) -> bool:
    stmt = select(CareTeamMember.id).where(
        CareTeamMember.user_id == user_id, CareTeamMember.client_id == client_id
    )
    return session.scalar(stmt.limit(1)) is not None


def open_grant(session: Session, user_id: str, client_id: str) -> BreakGlassGrant | None:
    """The user's break-glass grant for the client that has not yet expired, if any."""
    stmt = (
        select(BreakGlassGrant)
        .where(
            BreakGlassGrant.user_id == user_id,
            BreakGlassGrant.client_id == client_id,
            BreakGlassGrant.expires_at > utcnow(),
        )
        .order_by(BreakGlassGrant.expires_at.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def can_reach(
    session: Session,
    user_id: str | None,
    client_id: str | None,
    *,
    origin: RequestOrigin | None = None,
) -> bool:
    """Whether `user_id` may see or act on the client `client_id` (None: a record of no client,
    such as a message from an unmatched number, for admins and staff alone). Access through a
    break-glass grant is audited (BREAK_GLASS_USED, with the grant's id) in the caller's
    transaction. A caller that gets False refuses as it does for a record that does not exist."""
    if sees_every_client(session, user_id):
        return True
    if user_id is None or client_id is None:
        return False
    if on_care_team(session, user_id, client_id):
        return True
    grant = open_grant(session, user_id, client_id)
    if grant is None:
        return False
    origin = origin or RequestOrigin()
    record_audit(
        session,
        actor=user_id,
        action=AuditAction.BREAK_GLASS_USED,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"grant_id": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return True


def require_reachable(
    session: Session,
    user_id: str | None,
    client_id: str,
    *,
    field: str = "client_id",
    origin: RequestOrigin | None = None,
) -> None:
    """Refuse (422 naming `field`) a client a request names that `user_id` may not reach, in
    the words used for a client that does not exist, so the refusal tells nothing about it."""
    if not can_reach(session, user_id, client_id, origin=origin):
        raise ValidationFailed("no client with that id", fields={field: "no such client"})


def require_all_reachable(
    session: Session,
    user_id: str | None,
    client_ids: Sequence[str],
    *,
    field: str = "client_ids",
) -> None:
    """Refuse (422 naming `field`) clients a campaign names outside `user_id`'s care team, in
    the words used for unknown ones. A campaign is a list: break-glass opens one client by id,
    never a campaign, and the fan-out keeps to the care team too."""
    if sees_every_client(session, user_id) or not client_ids:
        return
    assert user_id is not None
    mine: set[str] = set()
    for chunk in in_batches(list(dict.fromkeys(client_ids))):
        stmt = care_team_client_ids(user_id).where(CareTeamMember.client_id.in_(chunk))
        mine.update(session.scalars(stmt))
    refused = [client_id for client_id in client_ids if client_id not in mine]
    if refused:
        shown = ", ".join(refused[:5]) + (" …" if len(refused) > 5 else "")
        raise ValidationFailed(
            f"{len(refused)} client id{'s are' if len(refused) > 1 else ' is'} unknown",
            fields={field: f"{len(refused)} unknown: {shown}"},
        )
