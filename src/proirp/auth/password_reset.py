"""Password resets: an admin (or the `proirp users` command) issues a one-time link for a
member of staff, who sets a new password through it. Nobody but that person sees or sets the
password. The link expires after `RESET_LINK_LIFETIME`, works once, and using it ends the
person's other sessions. Only the SHA-256 of the link's token is stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth import repository
from proirp.auth.password_policy import check_new_password
from proirp.auth.reset_links import PasswordResetLink
from proirp.auth.secrets import hash_password, token_digest
from proirp.auth.sessions import end_all_sessions
from proirp.auth.staff import locked_member, void_reset_links
from proirp.kit.errors import AppError, Conflict
from proirp.kit.time import utcnow

RESET_LINK_LIFETIME = timedelta(hours=1)
RESET_PATH = "/app/reset-password"
RESET_TOKEN_PREFIX = "pirst_"  # noqa: S105 (marks a reset token in a link, not a secret)


class ResetLinkRefused(AppError):
    """The link is unknown, used, void or expired (one answer for all: it says nothing more)."""

    status_code = 404
    code = "reset_link_invalid"


@dataclass(frozen=True)
class IssuedLink:
    """The link, to be handed to its person; it is never stored and never shown again."""

    url: str
    expires_at: datetime
    user_id: str


def reset_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{RESET_PATH}/{token}"


def issue_reset_link(
    session: Session,
    user_id: str,
    *,
    base_url: str,
    actor: str | None,
    origin: RequestOrigin | None = None,
) -> IssuedLink:
    """A new one-time link for the user; any earlier unused link of theirs becomes void. A
    disabled account gets none (enable it first)."""
    user = locked_member(session, user_id)  # rows before the writers' lock (auth/staff.py)
    if not user.is_active:
        raise Conflict(
            "this account is disabled: enable it before resetting its password",
            code="user_disabled",
        )
    void_reset_links(session, user.id)
    token = RESET_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    link = PasswordResetLink(
        user_id=user.id,
        token_hash=token_digest(token),
        issued_by_user_id=actor,
        expires_at=now + RESET_LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    origin = origin or RequestOrigin()
    record_audit(
        session,
        actor=actor,
        action=AuditAction.PASSWORD_RESET_ISSUED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"user_id": user.id, "reset_link_id": link.id},
    )
    return IssuedLink(reset_url(base_url, token), link.expires_at, user.id)


def usable_link(session: Session, token: str) -> PasswordResetLink | None:
    """The link behind `token` if it can still be used (unused, unexpired, its user active)."""
    if not token.startswith(RESET_TOKEN_PREFIX) or len(token) > 100:
        return None
    link = session.scalar(
        select(PasswordResetLink).where(PasswordResetLink.token_hash == token_digest(token))
    )
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    user = repository.user_by_id(session, link.user_id)
    return link if user is not None and user.is_active else None


def _refused(session: Session, origin: RequestOrigin, link_id: str | None) -> ResetLinkRefused:
    record_audit(
        session,
        actor=None,
        action=AuditAction.PASSWORD_RESET_REFUSED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"reset_link_id": link_id} if link_id else None,
    )
    return ResetLinkRefused(
        "this password reset link has expired or was already used: ask an admin for a new one"
    )


def complete_reset(
    session: Session, token: str, new_password: str, *, origin: RequestOrigin
) -> str:
    """Set the person's new password through the link; the user's id. The link is spent in the
    same statement that checks it (two uses at once: one wins), and every session and token of
    the person ends. A refused link is audited and raises ResetLinkRefused; the caller commits
    even then, so that the refusal's audit row is kept. A weak password spends nothing."""
    link = usable_link(session, token)
    if link is None:
        raise _refused(session, origin, None)
    # The account's row first, as disabling takes it: the two cannot cross.
    user = locked_member(session, link.user_id)
    check_new_password(new_password, email=user.email)
    spent = session.execute(
        update(PasswordResetLink)
        .where(
            PasswordResetLink.id == link.id,
            PasswordResetLink.used_at.is_(None),
            PasswordResetLink.expires_at > utcnow(),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise _refused(session, origin, link.id)
    user.password_hash = hash_password(new_password)
    ended = end_all_sessions(session, user.id)
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.PASSWORD_RESET_COMPLETED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"user_id": user.id, "reset_link_id": link.id, "sessions_ended": ended},
    )
    return user.id
