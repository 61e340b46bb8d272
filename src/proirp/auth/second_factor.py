"""Two-step sign-in: who needs a second factor, enrolling an authenticator app (TOTP), recovery
codes, checking a code, and an admin's reset (docs/decisions/0020-second-factor.md).

The TOTP secret is stored encrypted (the vault) and shown only to its owner while enrolling;
recovery codes are shown once and only their SHA-256 is kept. Neither is ever logged or audited.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth import mfa_repository as repository
from proirp.auth import totp
from proirp.auth.mfa_models import LoginChallenge, RecoveryCode, SecondFactor
from proirp.auth.models import Role, User
from proirp.auth.secrets import token_digest
from proirp.config import Settings
from proirp.kit.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from proirp.kit.time import utcnow

RECOVERY_CODE_COUNT = 10
# 16 characters of Crockford's base32 (no i, l, o, u): 80 random bits, in four groups of four.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_LENGTH = 16
CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_CODE_LENGTH = 40  # what the code fields accept (a recovery code with spaces and dashes)

ENROL_FIRST = (
    "set up two-step sign-in first: your account needs an authenticator app "
    "(POST /auth/mfa/enrolment, or the page /app/mfa)"
)


class Method(enum.StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True)
class Status:
    enabled: bool
    required: bool
    enrolled_at: datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    """What the user copies into their app, shown to them alone while they enrol."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class SecondFactorRequired(NotAuthenticated):
    """The password was right; the sign-in waits for a code (401 `mfa_required`)."""

    code = "mfa_required"

    def __init__(self, challenge: str, expires_in: int) -> None:
        super().__init__(
            "enter the 6-digit code from your authenticator app, or a recovery code: "
            "send it with this challenge to POST /auth/login/mfa"
        )
        self.challenge = challenge
        self.expires_in = expires_in

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["error"].update(challenge=self.challenge, expires_in=self.expires_in)
        return body


def is_required(user: User, settings: Settings) -> bool:
    """Admins always need a second factor; everyone does when MFA_REQUIRED_FOR_ALL is set."""
    return user.role == Role.ADMIN or settings.mfa_required_for_all


def is_enabled(session: Session, user_id: str) -> bool:
    return repository.is_confirmed(session, user_id)


def users_enrolled(session: Session) -> set[str]:
    """The ids of the users who sign in with a second factor."""
    return repository.users_with_second_factor(session)


def must_enrol(session: Session, user: User, settings: Settings) -> bool:
    """Whether the user may, for now, do nothing but enrol (and see who they are, sign out)."""
    return is_required(user, settings) and not is_enabled(session, user.id)


def refuse_until_enrolled(session: Session, user: User, settings: Settings) -> None:
    if must_enrol(session, user, settings):
        raise Forbidden(ENROL_FIRST, code="mfa_enrolment_required")


def status(session: Session, user: User, settings: Settings) -> Status:
    factor = repository.second_factor_of(session, user.id)
    enrolled_at = factor.confirmed_at if factor is not None else None
    return Status(
        enabled=enrolled_at is not None,
        required=is_required(user, settings),
        enrolled_at=enrolled_at,
        recovery_codes_left=repository.recovery_codes_left(session, user.id),
    )


def _enrolment(factor: SecondFactor, user: User, issuer: str) -> Enrolment:
    uri = totp.otpauth_uri(factor.totp_secret, account=user.email, issuer=issuer)
    return Enrolment(secret=factor.totp_secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def start_enrolment(
    session: Session, user: User, *, token_id: str, origin: RequestOrigin, issuer: str
) -> Enrolment:
    """A new secret for the user's app, for the session `token_id` alone; MFA is on only once
    a code from it is confirmed there."""
    factor = repository.second_factor_of(session, user.id, lock=True)
    if factor is None:
        try:
            with session.begin_nested():
                session.add(SecondFactor(user_id=user.id, totp_secret=totp.new_secret()))
        except IntegrityError:
            pass  # another start, at once, made the row first: this one replaces its secret
        factor = repository.second_factor_of(session, user.id, lock=True)
        assert factor is not None
    if factor.confirmed_at is not None:
        raise Conflict(
            "two-step sign-in is already on for this account; an admin can reset it",
            code="mfa_already_enabled",
        )
    # A new secret each start: one started again replaces an enrolment left unfinished.
    factor.totp_secret = totp.new_secret()
    factor.last_used_step = None
    factor.started_by_token_id = token_id
    session.flush()
    record_audit(session, action=AuditAction.MFA_ENROLMENT_STARTED, actor=user.id, origin=origin)
    return _enrolment(factor, user, issuer)


def enrolment_in_progress(
    session: Session, user: User, *, token_id: str, issuer: str
) -> Enrolment | None:
    """The unfinished enrolment's secret again, to the session that started it (the page shows
    it until a code is confirmed); another session of the account may start again."""
    factor = repository.second_factor_of(session, user.id)
    if factor is None or factor.confirmed_at is not None:
        return None
    if factor.started_by_token_id != token_id:
        return None
    return _enrolment(factor, user, issuer)


def wrong_code(message: str = "the code is not the one your app shows now") -> ValidationFailed:
    return ValidationFailed(message, code="invalid_code", fields={"code": "not a valid code"})


def confirm_enrolment(
    session: Session, user: User, code: str, *, token_id: str, origin: RequestOrigin
) -> list[str]:
    """Turn MFA on with a code from the new secret, from the session `token_id` that started
    the enrolment; the recovery codes, to show once. Every other session and token of the
    account ends: each was opened with the password alone, and would otherwise become a whole
    session the moment the account has its second factor."""
    factor = repository.second_factor_of(session, user.id, lock=True)
    if factor is None or (factor.confirmed_at is None and factor.started_by_token_id != token_id):
        raise Conflict(
            "start the enrolment in this session first (POST /auth/mfa/enrolment)",
            code="mfa_enrolment_not_started",
        )
    if factor.confirmed_at is not None:
        raise Conflict(
            "two-step sign-in is already on for this account", code="mfa_already_enabled"
        )
    now = utcnow()
    step = totp.matching_step(factor.totp_secret, _plain(code), now=now, after=None)
    if step is None:
        raise wrong_code()
    factor.confirmed_at = now
    factor.last_used_step = step
    factor.started_by_token_id = None
    codes = _new_recovery_codes(session, user.id)
    ended = repository.end_sessions(session, user.id, now=now, keep=token_id)
    session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user.id))
    record_audit(
        session,
        action=AuditAction.MFA_ENROLLED,
        actor=user.id,
        origin=origin,
        details={"method": Method.TOTP, "recovery_codes": len(codes), "sessions_ended": ended},
    )
    return codes


def _plain(code: str) -> str:
    return "".join(code.split())


def _normalise_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _recovery_digest(code: str) -> str:
    return hashlib.sha256(b"recovery:" + _normalise_recovery(code).encode()).hexdigest()


def _new_recovery_codes(session: Session, user_id: str) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones."""
    repository.forget_recovery_codes(session, user_id)
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
        session.add(RecoveryCode(user_id=user_id, code_digest=_recovery_digest(raw)))
    session.flush()
    return codes


def verify_code(
    session: Session, user: User, code: str, *, totp_only: bool = False
) -> Method | None:
    """Accept `code` for the user once: a TOTP code of a step not used before, or an unused
    recovery code (unless `totp_only`). None if it is neither."""
    factor = repository.second_factor_of(session, user.id)
    if factor is None or factor.confirmed_at is None:
        return None
    now, plain = utcnow(), _plain(code)
    if totp.TOTP_CODE.match(plain):
        step = totp.matching_step(factor.totp_secret, plain, now=now, after=factor.last_used_step)
        if step is not None and repository.take_step(session, factor.id, step):
            return Method.TOTP
        return None
    if totp_only or len(_normalise_recovery(plain)) != RECOVERY_LENGTH:
        return None
    if repository.use_recovery_code(session, user.id, _recovery_digest(plain), now=now):
        return Method.RECOVERY_CODE
    return None


def challenge(session: Session, user: User, *, origin: RequestOrigin) -> SecondFactorRequired:
    """A sign-in waiting for a code: the error to answer the password with, carrying the
    challenge (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        LoginChallenge(
            user_id=user.id,
            token_hash=token_digest(token),
            expires_at=utcnow() + CHALLENGE_LIFETIME,
        )
    )
    record_audit(session, action=AuditAction.MFA_CHALLENGED, actor=user.id, origin=origin)
    return SecondFactorRequired(token, int(CHALLENGE_LIFETIME.total_seconds()))


def regenerate_recovery_codes(
    session: Session, user: User, code: str, *, origin: RequestOrigin
) -> list[str] | None:
    """New recovery codes (the old ones stop working) for a current TOTP code; None, audited as
    MFA_FAILED, for a wrong one (the caller counts it in the login limits)."""
    if not is_enabled(session, user.id):
        raise Conflict("two-step sign-in is not on for this account", code="mfa_not_enabled")
    if verify_code(session, user, code, totp_only=True) is None:
        record_audit(
            session,
            action=AuditAction.MFA_FAILED,
            actor=user.id,
            origin=origin,
            details={"stage": "recovery_codes"},
        )
        return None
    codes = _new_recovery_codes(session, user.id)
    record_audit(
        session,
        action=AuditAction.RECOVERY_CODES_REGENERATED,
        actor=user.id,
        origin=origin,
        details={"recovery_codes": len(codes)},
    )
    return codes


def reset(session: Session, target: User, *, actor: str | None, origin: RequestOrigin) -> bool:
    """An admin's reset of another user's second factor (a lost phone): their app and recovery
    codes stop working and their sessions end; they enrol again at their next sign-in. Whether
    they had one. The secret is never shown."""
    had = repository.forget_second_factor(session, target.id)
    ended = repository.end_sessions(session, target.id, now=utcnow())
    record_audit(
        session,
        action=AuditAction.MFA_RESET,
        actor=actor,
        origin=origin,
        details={"user_id": target.id, "had_second_factor": had, "sessions_ended": ended},
    )
    return had
