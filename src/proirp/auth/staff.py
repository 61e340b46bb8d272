"""The staff lifecycle: list accounts, disable and enable them, change a role, and sign a
person out everywhere. Each change is audited (ids and roles only) in its own transaction.

The last active admin can be neither disabled nor demoted. Two admins doing that at once are
kept apart by the writers' lock: every change of a role or of the active flag takes it
before counting the active admins, so the second counts after the first has committed. On
SQLite every transaction holds the write lock from its start (kit.db), which orders them the
same way.

Locks on PostgreSQL are taken in the order signing in and signing out take them: the account's
row, then its tokens' rows, then the writers' lock (never a row after the writers' lock that
a sign-in could hold while waiting for that lock), so none of these can deadlock with another.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth import repository
from proirp.auth.models import ApiToken, Role, User
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.sessions import end_all_sessions
from proirp.kit.db import lock_shared_writes
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


def locked_member(session: Session, user_id: str) -> User:
    """The account as committed now, its row locked until the transaction ends (PostgreSQL)."""
    stmt = (
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    user = session.scalar(stmt)
    if user is None:
        raise NotFound("no staff member has that id", code="not_found")
    return user


def _lock_tokens(session: Session, user_id: str) -> None:
    """Lock the user's live tokens' rows, before the writers' lock (see the module's note)."""
    stmt = (
        select(ApiToken.id)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .with_for_update()
    )
    session.execute(stmt)


def _keep_an_admin(session: Session, user: User, *, change: str) -> None:
    """Refuse the change if `user` is the last active admin, counted under the writers' lock."""
    lock_shared_writes(session)
    _refuse_the_last_admin(session, user, change=change)


def _refuse_the_last_admin(session: Session, user: User, *, change: str) -> None:
    stmt = select(User.id).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
    admins = list(session.scalars(stmt))
    if user.id in admins and len(admins) <= 1:
        raise Conflict(
            f"this is the last active admin, who cannot be {change}: "
            "make another staff member an admin first",
            code="last_admin",
        )


def refuse_what_keeps_no_admin(
    session: Session, user: User, *, disabling: bool = False, new_role: str | None = None
) -> None:
    """The last-admin rule, asked before the acting admin is asked for a code (a change to an
    admin's account needs one): a change it refuses anyway is refused at once. The change
    itself asks again, under the writers' lock."""
    if disabling:
        _refuse_the_last_admin(session, user, change="disabled")
    elif new_role in ROLES and new_role != Role.ADMIN.value:
        _refuse_the_last_admin(session, user, change="given another role")


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
    user = locked_member(session, user_id)
    _lock_tokens(session, user.id)
    _keep_an_admin(session, user, change="disabled")
    if not user.is_active:
        return user
    user.is_active = False
    ended = end_all_sessions(session, user.id)
    void_reset_links(session, user.id)
    record_audit(
        session,
        action=AuditAction.USER_DISABLED,
        actor=actor,
        origin=origin,
        details={"user_id": user.id, "role": user.role, "sessions_ended": ended},
    )
    return user


def enable_user(
    session: Session, user_id: str, *, actor: str | None, origin: RequestOrigin | None = None
) -> User:
    """Enable the account again. Sessions ended by disabling stay ended (so does one opened by a
    sign-in that raced the disabling): the person signs in."""
    user = locked_member(session, user_id)
    if user.is_active:
        return user
    user.is_active = True
    end_all_sessions(session, user.id)
    record_audit(
        session,
        action=AuditAction.USER_ENABLED,
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
    """Change the account's role (at once: roles are read on every request); its unused
    password reset links are void."""
    if role not in ROLES:
        raise ValidationFailed(
            "role is not one of admin, clinician, staff",
            fields={"role": "must be admin, clinician or staff"},
        )
    user = locked_member(session, user_id)
    if role != Role.ADMIN.value:
        _keep_an_admin(session, user, change="given another role")
    if user.role == role:
        return user
    before, user.role = user.role, role
    # A link made for the old role (a clinician's needs no admin's code) must not set the
    # password of the new one.
    void_reset_links(session, user.id)
    record_audit(
        session,
        action=AuditAction.USER_ROLE_CHANGED,
        actor=actor,
        origin=origin,
        details={"user_id": user.id, "role_before": before, "role": role},
    )
    return user


def sign_out_everywhere(session: Session, user: User, *, origin: RequestOrigin) -> int:
    """End every session and API token of the user, this one included; how many."""
    ended = end_all_sessions(session, user.id)
    record_audit(
        session,
        action=AuditAction.SIGNED_OUT_EVERYWHERE,
        actor=user.id,
        origin=origin,
        details={"user_id": user.id, "sessions_ended": ended},
    )
    return ended
