"""Queries for second factors, recovery codes and sign-ins waiting for a code."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from proirp.auth.mfa_models import LoginChallenge, RecoveryCode, SecondFactor
from proirp.auth.models import ApiToken


def _changed(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def second_factor_of(session: Session, user_id: str, *, lock: bool = False) -> SecondFactor | None:
    """The user's second factor; with `lock`, as committed now, its row locked until the
    transaction ends (an enrolment started and one confirmed at once are then one after the
    other)."""
    stmt = select(SecondFactor).where(SecondFactor.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def users_with_second_factor(session: Session) -> set[str]:
    """The ids of every user whose second factor is set up (confirmed)."""
    stmt = select(SecondFactor.user_id).where(SecondFactor.confirmed_at.is_not(None))
    return set(session.scalars(stmt))


def is_confirmed(session: Session, user_id: str) -> bool:
    found = session.scalar(
        select(SecondFactor.id).where(
            SecondFactor.user_id == user_id, SecondFactor.confirmed_at.is_not(None)
        )
    )
    return found is not None


def take_step(session: Session, factor_id: str, step: int) -> bool:
    """Record `step` as used, only if no later or equal step was: one statement, so two requests
    with one code cannot both be accepted."""
    result = session.execute(
        update(SecondFactor)
        .where(
            SecondFactor.id == factor_id,
            or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def use_recovery_code(session: Session, user_id: str, digest: str, *, now: datetime) -> bool:
    """Mark the user's unused code with `digest` used; whether there was one."""
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def recovery_codes_left(session: Session, user_id: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


def forget_recovery_codes(session: Session, user_id: str) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def forget_second_factor(session: Session, user_id: str) -> bool:
    """Remove the user's second factor, codes and waiting sign-ins; whether there was one."""
    result = session.execute(delete(SecondFactor).where(SecondFactor.user_id == user_id))
    forget_recovery_codes(session, user_id)
    session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))
    return _changed(result) > 0


def end_sessions(session: Session, user_id: str, *, now: datetime, keep: str | None = None) -> int:
    """Revoke the user's open sessions and API tokens (all but the token `keep`); how many."""
    stmt = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    result = session.execute(
        stmt.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return _changed(result)


def challenge_by_digest(session: Session, digest: str) -> LoginChallenge | None:
    return session.scalar(select(LoginChallenge).where(LoginChallenge.token_hash == digest))


def use_challenge(session: Session, challenge_id: str, *, now: datetime) -> bool:
    """Mark the challenge used, only if it was not: it opens one session at most."""
    result = session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge_id, LoginChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def forget_ended_challenges(session: Session, *, now: datetime) -> int:
    return _changed(session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at <= now)))
