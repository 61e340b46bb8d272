"""The staff lifecycle: list accounts, disable and enable them, change a role, and sign a
person out everywhere. Each change is audited (ids and roles only) in its own transaction.

The last active admin can be neither disabled nor demoted. Two admins doing that at once are
kept apart: the audit chain's lock, which every audited change takes first, is taken before the
active admins are counted (their rows also locked FOR UPDATE on PostgreSQL), so the second
counts after the first has committed. On SQLite every transaction holds the write lock from its
start (kit.db), which orders them the same way.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, lock_audit_chain, record_audit
from proirp.auth import repository
from proirp.auth.models import Role, User
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.sessions import end_all_sessions
from proirp.kit.errors import Conflict, NotFound, ValidationFailed
from proirp.kit.time import utcnow

ROLES = tuple(role.value for role in Role)


def list_staff(session: Session) -> list[User]:
    """Every account, active or not, by email (former staff stay: their history names them)."""
    return repository.all_users(session)


def staff_member(session: Session, user_id: str) -> User:
    user = repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no staff member has that id", code="not_found")
    return user


def _lock_active_admins(session: Session) -> list[str]:
    """The active admins' ids, counted after taking the chain's lock (see the module's note)."""
    lock_audit_chain(session)
    stmt = (
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        .with_for_update()
    )
    return list(session.scalars(stmt))


def _keep_an_admin(session: Session, user: User, *, change: str) -> None:
    admins = _lock_active_admins(session)
    session.refresh(user)  # as committed now, not as read before the lock
    if user.id in admins and len(admins) <= 1:
        raise Conflict(
            f"this is the last active admin, who cannot be {change}: "
            "make another staff member an admin first",
            code="last_admin",
        )


def _audit(
    session: Session,
    action: AuditAction,
    *,
    actor: str | None,
    origin: RequestOrigin | None,
    details: dict[str, object],
) -> None:
    origin = origin or RequestOrigin()
    record_audit(
        session,
        actor=actor,
        action=action,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
    )


def void_reset_links(session: Session, user_id: str) -> None:
    """Spend every unused password reset link of the user."""
    session.execute(
        update(PasswordResetLink)
        .where(PasswordResetLink.user_id == user_id, PasswordResetLink.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def disable_user(
    session: Session, user_id: str, *, actor: str | None, origin: RequestOrigin | None = None
) -> User:
    """Disable the account: its sessions and tokens end now, its reset links are void, and its
    calendars are no longer synced (calendars.sync_status skips a disabled owner). Its history,
    calendars and messages stay. Disabling a disabled account changes nothing."""
    user = staff_member(session, user_id)
    _keep_an_admin(session, user, change="disabled")
    if not user.is_active:
        return user
    user.is_active = False
    ended = end_all_sessions(session, user.id)
    void_reset_links(session, user.id)
    _audit(
        session,
        AuditAction.USER_DISABLED,
        actor=actor,
        origin=origin,
        details={"user_id": user.id, "role": user.role, "sessions_ended": ended},
    )
    return user


def enable_user(
    session: Session, user_id: str, *, actor: str | None, origin: RequestOrigin | None = None
) -> User:
    """Enable the account again. Sessions ended by disabling stay ended: the person signs in."""
    user = staff_member(session, user_id)
    lock_audit_chain(session)
    session.refresh(user)
    if user.is_active:
        return user
    user.is_active = True
    _audit(
        session,
        AuditAction.USER_ENABLED,
        actor=actor,
        origin=origin,
        details={"user_id": user.id, "role": user.role},
    )
    return user


def set_role(
    session: Session,
    user_id: str,
    role: str,
    *,
    actor: str | None,
    origin: RequestOrigin | None = None,
) -> User:
    """Change the account's role (at once: roles are read on every request)."""
    if role not in ROLES:
        raise ValidationFailed(
            "role is not one of admin, clinician, staff",
            fields={"role": "must be admin, clinician or staff"},
        )
    user = staff_member(session, user_id)
    if role != Role.ADMIN.value:
        _keep_an_admin(session, user, change="given another role")
    else:
        lock_audit_chain(session)
        session.refresh(user)
    if user.role == role:
        return user
    before, user.role = user.role, role
    _audit(
        session,
        AuditAction.USER_ROLE_CHANGED,
        actor=actor,
        origin=origin,
        details={"user_id": user.id, "role_before": before, "role": role},
    )
    return user


def sign_out_everywhere(session: Session, user: User, *, origin: RequestOrigin) -> int:
    """End every session and API token of the user, this one included; how many."""
    ended = end_all_sessions(session, user.id)
    _audit(
        session,
        AuditAction.SIGNED_OUT_EVERYWHERE,
        actor=user.id,
        origin=origin,
        details={"user_id": user.id, "sessions_ended": ended},
    )
    return ended
