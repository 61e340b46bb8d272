"""Codes checked against the login limits: the second step of signing in (a code for the
challenge the password was answered with), the code that new recovery codes ask for, and the
fresh code an admin gives to change another admin's account.

Each try takes its place in the login limits (auth/throttle.py) as a password does, under the
account's email and the caller's address, so codes cannot be guessed faster than passwords."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth import mfa_repository, repository, second_factor
from proirp.auth.models import Role, User
from proirp.auth.secrets import token_digest
from proirp.auth.service import LoginResult, open_session
from proirp.auth.throttle import LoginAttempt, LoginThrottle
from proirp.kit.errors import Conflict, NotAuthenticated, TooManyRequests, ValidationFailed
from proirp.kit.time import utcnow


def complete_log_in(
    session: Session,
    *,
    challenge: str,
    code: str,
    origin: RequestOrigin,
    throttle: LoginThrottle,
    session_ttl: timedelta,
) -> LoginResult:
    """Open the session the challenge waits for, if `code` is right. As `log_in`, refusals are
    audited before they are raised: the caller commits the session even when this raises."""
    now = utcnow()
    row = mfa_repository.challenge_by_digest(session, token_digest(challenge))
    user = repository.user_by_id(session, row.user_id) if row is not None else None
    if row is None or user is None or row.used_at is not None or row.expires_at <= now:
        raise NotAuthenticated(
            "this sign-in has expired or was already used: sign in again with your password",
            code="mfa_challenge_expired",
        )
    audit: dict[str, Any] = {"actor": user.id, "ip": origin.ip, "user_agent": origin.user_agent}

    attempt = throttle.admit(session, user.email, origin.ip)
    if attempt.retry_after is not None:
        record_audit(session, action=AuditAction.LOGIN_THROTTLED, **audit)
        raise TooManyRequests(
            "too many failed sign-ins; try again later",
            headers={"Retry-After": str(attempt.retry_after)},
        )

    method = second_factor.verify_code(session, user, code) if user.is_active else None
    if method is None:
        throttle.record_failure(session, attempt)
        record_audit(session, action=AuditAction.MFA_FAILED, details={"stage": "sign_in"}, **audit)
        raise NotAuthenticated("the code is wrong, or was already used", code="invalid_code")
    if not mfa_repository.use_challenge(session, row.id, now=now):
        raise NotAuthenticated(
            "this sign-in was already used: sign in again with your password",
            code="mfa_challenge_expired",
        )

    throttle.record_success(session, attempt)
    record_audit(session, action=AuditAction.MFA_VERIFIED, details={"method": method}, **audit)
    if method == second_factor.Method.RECOVERY_CODE:
        left = mfa_repository.recovery_codes_left(session, user.id)
        record_audit(
            session, action=AuditAction.RECOVERY_CODE_USED, details={"codes_left": left}, **audit
        )
    return open_session(session, user, origin=origin, session_ttl=session_ttl)


def regenerate_with_code(
    session: Session, user: User, code: str, *, origin: RequestOrigin, throttle: LoginThrottle
) -> list[str]:
    """New recovery codes for a current code; a wrong code counts in the login limits as a
    wrong password does (the caller commits even when this raises)."""
    if not second_factor.is_enabled(session, user.id):
        raise Conflict("two-step sign-in is not on for this account", code="mfa_not_enabled")
    attempt = _admitted(session, user, origin=origin, throttle=throttle)
    codes = second_factor.regenerate_recovery_codes(session, user, code, origin=origin)
    if codes is None:
        throttle.record_failure(session, attempt)
        raise second_factor.wrong_code()
    throttle.record_success(session, attempt)
    return codes


def needs_fresh_code(target: User, *, new_role: str | None = None) -> bool:
    """Whether an admin's change to `target`'s account (resetting their second factor, making
    them a password reset link, disabling or enabling it, giving it a role) needs a current
    code from the acting admin's app: when `target` is an admin or is being made one, so that a
    stolen admin session alone cannot take over another admin's account (nor demote one, change
    it without a code, and promote it back)."""
    return Role.ADMIN in (target.role, new_role)


def confirm_fresh_code(
    session: Session,
    actor: User,
    target: User,
    code: str | None,
    *,
    origin: RequestOrigin,
    throttle: LoginThrottle,
    new_role: str | None = None,
) -> None:
    """Refuse the change to `target`'s account (to `new_role`, for a change of role) unless it
    needs no fresh code or `code` is a current one from `actor`'s authenticator app (not a
    recovery code). A wrong code counts in the login limits and is audited as MFA_FAILED: the
    caller commits even when this raises."""
    if not needs_fresh_code(target, new_role=new_role):
        return
    if not code:
        raise ValidationFailed(
            "a change to an admin's account needs a current code from your authenticator app",
            code="fresh_code_required",
            fields={"code": "required: the code your authenticator app shows now"},
        )
    attempt = _admitted(session, actor, origin=origin, throttle=throttle)
    if second_factor.verify_code(session, actor, code, totp_only=True) is None:
        throttle.record_failure(session, attempt)
        record_audit(
            session,
            action=AuditAction.MFA_FAILED,
            actor=actor.id,
            origin=origin,
            details={"stage": "fresh_code", "user_id": target.id},
        )
        raise second_factor.wrong_code()
    throttle.record_success(session, attempt)


def _admitted(
    session: Session, user: User, *, origin: RequestOrigin, throttle: LoginThrottle
) -> LoginAttempt:
    """The user's next try in the login limits; TooManyRequests, audited, when it is refused."""
    attempt = throttle.admit(session, user.email, origin.ip)
    if attempt.retry_after is not None:
        record_audit(
            session,
            actor=user.id,
            action=AuditAction.LOGIN_THROTTLED,
            ip=origin.ip,
            user_agent=origin.user_agent,
        )
        raise TooManyRequests(
            "too many wrong codes; try again later",
            headers={"Retry-After": str(attempt.retry_after)},
        )
    return attempt
