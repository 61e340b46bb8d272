"""Sessions over time: the idle timeout (automatic logoff), the absolute lifetime, each token's
last use, and ending all of a person's sessions and tokens at once.

A token's `last_used_at` is written at most once a `LAST_USE_STEP`, so that reading pages does
not make every request a write. The idle timeout is measured from that recorded time, which is
never later than the true last use and at most one step earlier: a session left alone ends
between `idle_after - LAST_USE_STEP` and `idle_after` after its last request, never later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from proirp.auth.mfa_models import LoginChallenge
from proirp.auth.models import ApiToken, TokenKind
from proirp.auth.service import Principal, resolve_token
from proirp.config import Settings
from proirp.kit.time import utcnow

LAST_USE_STEP = timedelta(minutes=1)


def idle_limit(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.session_idle_minutes)


def idle_expired(token: ApiToken, *, now: datetime, idle_after: timedelta) -> bool:
    """Whether a browser session has gone unused for `idle_after`. API tokens (kind "api") are
    for programs, which have no screen to leave unattended: they end only at their expiry."""
    if token.kind != TokenKind.SESSION:
        return False
    last = token.last_used_at or token.created_at
    return now - last >= idle_after


def note_use(token: ApiToken, *, now: datetime) -> None:
    """Record the use, unless one was recorded less than a step ago."""
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_STEP:
        token.last_used_at = now


def resolve_session(
    session: Session, token: str, *, idle_after: timedelta, by_person: bool = True
) -> Principal | None:
    """The active user behind `token` if it is neither revoked, nor past its lifetime, nor idle
    for too long; its use is recorded (in the caller's transaction) when the request is the
    person's own doing, not a page polling by itself (`by_person=False`), which would otherwise
    keep a screen left open signed in for ever."""
    principal = resolve_token(session, token)
    if principal is None:
        return None
    now = utcnow()
    if idle_expired(principal.token, now=now, idle_after=idle_after):
        return None
    if by_person:
        note_use(principal.token, now=now)
    return principal


def end_all_sessions(session: Session, user_id: str) -> int:
    """Revoke every live session and API token of the user; how many. The next request with
    any of them is refused, and a sign-in of theirs waiting for a code can no longer finish."""
    session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)
