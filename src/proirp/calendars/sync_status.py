"""Where each calendar's sync stands, for people (`GET /calendar/sync-status`) and for the
periodic sync, which leaves a failing calendar alone for longer after each failure in a row
(5 minutes, doubling, at most 6 hours, never sooner than the provider's Retry-After)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.auth.models import User
from proirp.calendars.models import (
    CalendarIntegration,
    CalendarPushChannel,
    CalendarSyncStatus,
    SyncedCalendarEvent,
)
from proirp.integrations.base import ProviderError, ProviderTemporaryError
from proirp.kit.db import transaction
from proirp.kit.metrics import count_calendar_sync_failure
from proirp.kit.time import utcnow

FIRST_BACKOFF = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
# A sync that began longer ago than this and never ended (its worker died) is not "syncing".
SYNC_STALE_AFTER = timedelta(minutes=15)
# A calendar whose push is healthy is still polled this often: a safety net for lost
# notifications.
PUSH_SAFETY_POLL = timedelta(days=1)


def status_of(session: Session, integration_id: str) -> CalendarSyncStatus:
    status = session.scalar(
        select(CalendarSyncStatus).where(CalendarSyncStatus.integration_id == integration_id)
    )
    if status is None:
        status = CalendarSyncStatus(integration_id=integration_id, failures=0)
        session.add(status)
    return status


def backoff(failures: int, retry_after: float | None = None) -> timedelta:
    """How long to leave a calendar alone after `failures` failures in a row."""
    delay = min(FIRST_BACKOFF * 2 ** max(failures - 1, 0), MAX_BACKOFF)
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def internal_error(exc: Exception) -> ProviderError:
    """A failure of ours during a sync, recorded like a provider's (its type, never its text)."""
    return ProviderError("pro-irp", "internal", f"the sync failed here ({type(exc).__name__})")


def began(factory: sessionmaker[Session], integration_id: str) -> None:
    with transaction(factory) as session:
        if session.get(CalendarIntegration, integration_id) is not None:
            status_of(session, integration_id).syncing_since = utcnow()


def failed(factory: sessionmaker[Session], integration_id: str, exc: ProviderError) -> None:
    """Record (and count) the failure in plain words, and when the periodic sync may try
    again."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None:
            return
        count_calendar_sync_failure(integration.provider)
        status = status_of(session, integration_id)
        now = utcnow()
        status.syncing_since = None
        status.last_error = exc.reason[:300]
        status.last_error_at = now
        status.failures = (status.failures or 0) + 1
        said = exc.retry_after if isinstance(exc, ProviderTemporaryError) else None
        status.retry_after = now + backoff(status.failures, said)


def succeeded(status: CalendarSyncStatus) -> None:
    status.syncing_since = None
    status.last_success_at = utcnow()
    status.last_error = None
    status.failures = 0
    status.retry_after = None


def due_for_sync(session: Session) -> list[str]:
    """Active integrations the periodic sync should sync now (not backing off, and not kept
    current by healthy push: those once a day, unless their last sync failed). A disabled
    member of staff's calendars are left alone (kept, with their history, but not read)."""
    now = utcnow()
    pushed = and_(
        CalendarPushChannel.state == "active",
        CalendarPushChannel.expires_at > now,
        CalendarSyncStatus.last_success_at > now - PUSH_SAFETY_POLL,
        # A notification's sync that failed has already taken its request: until a sync
        # succeeds again, the calendar is polled (after its backoff) as if it had no push.
        CalendarSyncStatus.failures == 0,
    )
    stmt = (
        select(CalendarIntegration.id)
        .join(User, User.id == CalendarIntegration.user_id)
        .outerjoin(CalendarSyncStatus, CalendarSyncStatus.integration_id == CalendarIntegration.id)
        .outerjoin(
            CalendarPushChannel, CalendarPushChannel.integration_id == CalendarIntegration.id
        )
        .where(
            CalendarIntegration.status == "active",
            User.is_active.is_(True),
            or_(CalendarSyncStatus.retry_after.is_(None), CalendarSyncStatus.retry_after <= now),
            not_(func.coalesce(pushed, False)),
        )
    )
    return list(session.scalars(stmt))


def owner_active(session: Session, integration_id: str) -> bool:
    """Whether the calendar's owner may still be synced for (an account not disabled)."""
    stmt = (
        select(User.is_active)
        .join(CalendarIntegration, CalendarIntegration.user_id == User.id)
        .where(CalendarIntegration.id == integration_id)
    )
    return bool(session.scalar(stmt))


def _state(integration: CalendarIntegration, status: CalendarSyncStatus | None) -> str:
    if status is None:
        return state_of(integration.status, None, None, None, first_sync_pending=True)
    return state_of(
        integration.status, status.syncing_since, status.last_error, status.last_success_at
    )


def state_of(
    connection: str,
    syncing_since: datetime | None,
    last_error: str | None,
    last_success_at: datetime | None,
    *,
    first_sync_pending: bool = False,
) -> str:
    """ok | syncing | error | needs_reauth, from a connection's status and its sync's record."""
    if connection == "needs_reauth":
        return "needs_reauth"
    if first_sync_pending:
        return "syncing"  # connected; the first sync is on its way
    if syncing_since and utcnow() - syncing_since < SYNC_STALE_AFTER:
        return "syncing"
    if last_error:
        return "error"
    return "ok" if last_success_at else "syncing"


@dataclass(frozen=True)
class CalendarSync:
    """One connected calendar as /metrics sees it: no account, no token, no event."""

    provider: str
    state: str
    active: bool
    # The last successful sync, or when it was connected if it has never synced.
    synced_since: datetime


def every_calendar(session: Session) -> list[CalendarSync]:
    """Every connected calendar's provider and sync state, in one query (columns only)."""
    stmt = select(
        CalendarIntegration.provider,
        CalendarIntegration.status,
        CalendarIntegration.created_at,
        CalendarSyncStatus.id,
        CalendarSyncStatus.syncing_since,
        CalendarSyncStatus.last_error,
        CalendarSyncStatus.last_success_at,
    ).outerjoin(CalendarSyncStatus, CalendarSyncStatus.integration_id == CalendarIntegration.id)
    calendars = []
    for provider, connection, connected_at, status_id, since, error, success in session.execute(
        stmt
    ):
        state = state_of(connection, since, error, success, first_sync_pending=status_id is None)
        synced_since = success or connected_at
        calendars.append(CalendarSync(provider, state, connection == "active", synced_since))
    return calendars


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def views(session: Session, user_id: str) -> list[dict[str, Any]]:
    """Each of the user's calendars: state, last success, last error in plain words, when it
    will be tried again, and how many events are cached. Never a token or an event's text."""
    cached = (
        select(SyncedCalendarEvent.integration_id, func.count().label("n"))
        .group_by(SyncedCalendarEvent.integration_id)
        .subquery()
    )
    stmt = (
        select(CalendarIntegration, CalendarSyncStatus, cached.c.n)
        .outerjoin(CalendarSyncStatus, CalendarSyncStatus.integration_id == CalendarIntegration.id)
        .outerjoin(cached, cached.c.integration_id == CalendarIntegration.id)
        .where(CalendarIntegration.user_id == user_id)
        .order_by(CalendarIntegration.provider)
    )
    answer = []
    for integration, status, count in session.execute(stmt):
        state = _state(integration, status)
        answer.append(
            {
                "provider": integration.provider,
                "account_email": integration.account_email,
                "status": state,
                "last_success_at": _iso(status.last_success_at if status else None),
                "last_error": status.last_error if status else None,
                "last_error_at": _iso(status.last_error_at if status else None),
                "next_attempt_at": _iso(status.retry_after if status else None),
                "events_cached": int(count or 0),
                "message": "Access was withdrawn; connect this calendar again."
                if state == "needs_reauth"
                else None,
            }
        )
    return answer
