"""A client's care team: read it, set it (admins and front desk), and the clinician who creates
a client joins its team. Every change is audited, one row per clinician added or removed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import Role, User
from proirp.clients import repository
from proirp.clients.access import can_reach
from proirp.clients.access_models import CareTeamMember
from proirp.clients.access_schemas import CareTeamMemberOut
from proirp.clients.models import Client
from proirp.kit.errors import NotFound, ValidationFailed


def _audit(
    session: Session,
    user_id: str,
    origin: RequestOrigin,
    action: AuditAction,
    client_id: str,
    **details: object,
) -> None:
    record_audit(
        session,
        actor=user_id,
        action=action,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=dict(details),
    )


def _client(session: Session, client_id: str, user_id: str, origin: RequestOrigin) -> Client:
    client = repository.get_client(session, client_id)
    if client is None or not can_reach(session, user_id, client_id, origin=origin):
        raise NotFound("no client with that id", code="client_not_found")
    return client


def members(session: Session, client_id: str) -> list[CareTeamMemberOut]:
    stmt = (
        select(CareTeamMember, User)
        .join(User, User.id == CareTeamMember.user_id)
        .where(CareTeamMember.client_id == client_id)
        .order_by(CareTeamMember.created_at, CareTeamMember.id)
    )
    return [
        CareTeamMemberOut(
            user_id=user.id,
            email=user.email,
            role=user.role,
            assigned_by_user_id=member.assigned_by_user_id,
            assigned_at=member.created_at,
        )
        for member, user in session.execute(stmt)
    ]


def read_care_team(
    session: Session, client_id: str, *, user_id: str, origin: RequestOrigin
) -> list[CareTeamMemberOut]:
    _client(session, client_id, user_id, origin)
    team = members(session, client_id)
    _audit(
        session,
        user_id,
        origin,
        AuditAction.CARE_TEAM_VIEWED,
        client_id,
        user_ids=[m.user_id for m in team],
    )
    return team


def clinicians(session: Session) -> Sequence[User]:
    """Every active clinician, by email (sorted here: the addresses are stored encrypted): who
    can be put on a care team."""
    stmt = select(User).where(User.role == Role.CLINICIAN, User.is_active.is_(True))
    return sorted(session.scalars(stmt), key=lambda user: (user.email, user.id))


def set_care_team(
    session: Session,
    client_id: str,
    user_ids: Sequence[str],
    *,
    user_id: str,
    origin: RequestOrigin,
) -> list[CareTeamMemberOut]:
    """Make the client's care team exactly `user_ids` (active clinicians)."""
    client = _client(session, client_id, user_id, origin)
    wanted = list(dict.fromkeys(user_ids))
    found = {
        u.id
        for u in session.scalars(select(User).where(User.id.in_(wanted)))
        if u.role == Role.CLINICIAN and u.is_active
    }
    current = {
        m.user_id: m
        for m in session.scalars(
            select(CareTeamMember).where(CareTeamMember.client_id == client.id)
        )
    }
    # A member who has since been disabled (or given another role) may be sent back as read;
    # they leave the team. Only someone new must be an active clinician.
    unknown = [u for u in wanted if u not in found and u not in current]
    if unknown:
        raise ValidationFailed(
            "a care team holds active clinicians only",
            fields={"user_ids": "not an active clinician: " + ", ".join(unknown[:5])},
        )
    for member_id in wanted:
        if member_id not in current:
            add_member(session, client.id, member_id, assigned_by=user_id, origin=origin)
    for member_id, member in current.items():
        if member_id not in found:
            session.delete(member)
            _audit(
                session,
                user_id,
                origin,
                AuditAction.CARE_TEAM_MEMBER_REMOVED,
                client.id,
                member_user_id=member_id,
            )
    session.flush()
    return members(session, client.id)


def add_member(
    session: Session, client_id: str, member_id: str, *, assigned_by: str, origin: RequestOrigin
) -> None:
    session.add(
        CareTeamMember(client_id=client_id, user_id=member_id, assigned_by_user_id=assigned_by)
    )
    session.flush()
    _audit(
        session,
        assigned_by,
        origin,
        AuditAction.CARE_TEAM_MEMBER_ADDED,
        client_id,
        member_user_id=member_id,
    )


def join_if_clinician(
    session: Session, client: Client, user_id: str, origin: RequestOrigin
) -> None:
    """A clinician who creates a client is on its care team (or they could not see it)."""
    user = session.get(User, user_id)
    if user is not None and user.role == Role.CLINICIAN:
        add_member(session, client.id, user_id, assigned_by=user_id, origin=origin)


def users(session: Session, user_ids: Sequence[str]) -> Sequence[User]:
    """The users with these ids (for their emails in a list)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    return session.scalars(select(User).where(User.id.in_(wanted))).all()
