"""Users and sessions: create, log in (throttled, audited), resolve a token, log out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth import repository, second_factor
from proirp.auth.models import ApiToken, Role, TokenKind, User
from proirp.auth.password_policy import check_new_password
from proirp.auth.secrets import (
    burn_password_check,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from proirp.auth.throttle import LoginThrottle
from proirp.kit.errors import Conflict, NotAuthenticated, TooManyRequests, ValidationFailed
from proirp.kit.time import utcnow


def normalise_staff_email(email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "email is not a valid address", fields={"email": "not a valid email address"}
        ) from exc


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    password: str,
    actor: str | None,
    origin: RequestOrigin | None = None,
) -> User:
    """Create a staff user; audited as USER_CREATED in the same transaction."""
    email = normalise_staff_email(email)
    if role not in {r.value for r in Role}:
        raise ValidationFailed(
            "role is not one of admin, clinician, staff",
            fields={"role": "must be admin, clinician or staff"},
        )
    check_new_password(password, email=email)
    if repository.user_by_email(session, email) is not None:
        raise Conflict("a user with that email exists", fields={"email": "already in use"})
    user = User(email=email, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    origin = origin or RequestOrigin()
    record_audit(
        session,
        actor=actor,
        action=AuditAction.USER_CREATED,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"user_id": user.id, "role": role},
    )
    return user


@dataclass(frozen=True)
class LoginResult:
    user: User
    token: str
    expires_in_seconds: int


def log_in(
    session: Session,
    *,
    email: str,
    password: str,
    origin: RequestOrigin,
    throttle: LoginThrottle,
    session_ttl: timedelta,
) -> LoginResult:
    """Check the password and open a session. Failures are audited before the error is raised,
    so the caller must commit the session even when this raises NotAuthenticated/TooManyRequests.

    For a user with a second factor the password opens no session: this raises
    `SecondFactorRequired` (401 `mfa_required`) carrying the challenge to answer with a code.
    """
    email = email.strip().lower()
    user = repository.user_by_email(session, email)
    audit: dict[str, Any] = {
        "actor": user.id if user else None,
        "ip": origin.ip,
        "user_agent": origin.user_agent,
    }

    attempt = throttle.admit(session, email, origin.ip)
    if attempt.retry_after is not None:
        record_audit(session, action=AuditAction.LOGIN_THROTTLED, **audit)
        raise TooManyRequests(
            "too many failed logins; try again later",
            headers={"Retry-After": str(attempt.retry_after)},
        )

    # Always check a password, so that unknown and inactive accounts answer as slowly as others.
    password_ok = verify_password(user.password_hash, password) if user else False
    if user is None:
        burn_password_check(password)
    if user is None or not user.is_active or not password_ok:
        throttle.record_failure(session, attempt)
        reason = "unknown_user" if user is None else "inactive" if not user.is_active else "bad"
        record_audit(session, action=AuditAction.LOGIN_FAILED, details={"reason": reason}, **audit)
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")

    if second_factor.is_enabled(session, user.id):
        # The password alone opens no session: a code must follow (POST /auth/login/mfa).
        throttle.record_first_factor(session, attempt)
        raise second_factor.challenge(session, user, origin=origin)

    throttle.record_success(session, attempt)
    return open_session(session, user, origin=origin, session_ttl=session_ttl)


def open_session(
    session: Session, user: User, *, origin: RequestOrigin, session_ttl: timedelta
) -> LoginResult:
    """A new browser session for `user`, who has proved who they are; audited."""
    token = new_token()
    now = utcnow()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=token_digest(token),
            kind=TokenKind.SESSION,
            expires_at=now + session_ttl,
        )
    )
    user.last_login_at = now
    record_audit(
        session,
        actor=user.id,
        action=AuditAction.LOGIN_SUCCEEDED,
        ip=origin.ip,
        user_agent=origin.user_agent,
    )
    return LoginResult(user, token, int(session_ttl.total_seconds()))


@dataclass(frozen=True)
class Principal:
    user: User
    token: ApiToken


def resolve_token(session: Session, token: str) -> Principal | None:
    """The active user behind `token`, or None if it is unknown, revoked or expired."""
    row = repository.token_by_digest(session, token_digest(token))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = repository.user_by_id(session, row.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(user, row)


def log_out(session: Session, principal: Principal, *, origin: RequestOrigin) -> None:
    principal.token.revoked_at = utcnow()
    record_audit(
        session,
        actor=principal.user.id,
        action=AuditAction.LOGOUT,
        ip=origin.ip,
        user_agent=origin.user_agent,
    )
