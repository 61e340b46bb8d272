"""Keeping `synced_calendar_events` current: a full sync over the window, then incremental syncs
with the stored sync token (Google's syncToken, Graph's deltaLink); a stale token (410), or a new
grant, means a full sync, after which the cache holds exactly what the provider listed.
Appointments follow their events: moved with them, cancelled when the event is cancelled or
deleted (both audited; `calendars/appointments.py`), and linked again to their events when a
calendar disconnected is connected again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.calendars import appointments, sync_status
from proirp.calendars.limits import in_flight
from proirp.calendars.models import (
    CalendarIntegration,
    SyncedCalendarEvent,
)
from proirp.calendars.providers import calendar_provider
from proirp.calendars.sync_status import status_of
from proirp.calendars.tokens import with_access_token
from proirp.config import Settings
from proirp.integrations.base import ProviderError
from proirp.integrations.calendar import Changes, ProviderEvent, SyncTokenExpired
from proirp.kit.db import in_batches, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class SyncResult:
    full: bool
    calls: int
    changed: int
    removed: int


def sync_window(settings: Settings, now: datetime) -> Window:
    """The span a full sync lists: CALENDAR_SYNC_DAYS_BACK before now to _DAYS_AHEAD after."""
    return (
        now - timedelta(days=settings.calendar_sync_days_back),
        now + timedelta(days=settings.calendar_sync_days_ahead),
    )


def _fetch(
    factory: sessionmaker[Session], settings: Settings, integration_id: str, window: Window
) -> tuple[Changes, bool] | None:
    """The changes since the stored sync token, or every event in the window (a full sync:
    no token yet, or the provider said it is too old). None if the calendar was disconnected."""
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None:
            return None
        provider_name = integration.provider
        sync_token = status_of(session, integration_id).sync_token
    provider = calendar_provider(settings, provider_name)

    def listing(since: str | None) -> Callable[[str], Changes]:
        def call(token: str) -> Changes:
            with in_flight(settings, provider, integration_id):
                return provider.list_changes(
                    token, sync_token=since, time_min=window[0], time_max=window[1]
                )

        return call

    if sync_token:
        try:
            return with_access_token(factory, settings, integration_id, listing(sync_token)), False
        except SyncTokenExpired:
            log.info("calendar.full_sync_required", integration_id=integration_id)
            with transaction(factory) as session:
                status_of(session, integration_id).sync_token = None
    return with_access_token(factory, settings, integration_id, listing(None)), True


def _existing(
    session: Session, integration_id: str, ids: list[str]
) -> dict[str, SyncedCalendarEvent]:
    found: dict[str, SyncedCalendarEvent] = {}
    for chunk in in_batches(ids):
        stmt = select(SyncedCalendarEvent).where(
            SyncedCalendarEvent.integration_id == integration_id,
            SyncedCalendarEvent.provider_event_id.in_(chunk),
        )
        found.update((row.provider_event_id, row) for row in session.scalars(stmt))
    return found


def _not_listed(
    session: Session,
    integration_id: str,
    events: list[ProviderEvent],
    before: datetime,
    window: Window | None,
) -> list[tuple[str, str]]:
    """After a full sync: (row id, provider event id) of cached events in the listed window
    that the provider no longer holds. Rows written since the listing began (an event just
    created here) are kept: the listing may predate them; so are events outside the window
    (past ones, or booked further ahead), which the listing could not show. Only ids are read,
    so nothing is decrypted."""
    listed = {e.id for e in events}
    stmt = select(SyncedCalendarEvent.id, SyncedCalendarEvent.provider_event_id).where(
        SyncedCalendarEvent.integration_id == integration_id,
        SyncedCalendarEvent.updated_at < before,
    )
    if window is not None:
        stmt = stmt.where(
            SyncedCalendarEvent.end_at > window[0], SyncedCalendarEvent.start_at < window[1]
        )
    return [
        (row_id, event_id) for row_id, event_id in session.execute(stmt) if event_id not in listed
    ]


def _copy(event: ProviderEvent, row: SyncedCalendarEvent) -> None:
    row.calendar_id = event.calendar_id
    row.title = event.title
    row.description = event.description
    row.location = event.location
    row.start_at = event.start_at  # type: ignore[assignment]  # checked by the caller
    row.end_at = event.end_at  # type: ignore[assignment]
    row.all_day = event.all_day
    row.status = event.status
    row.etag = event.etag
    row.provider_updated_at = event.updated_at


def _older(event: ProviderEvent, row: SyncedCalendarEvent) -> bool:
    """Whether the provider's copy is older than the cached one (by the provider's own time)."""
    return bool(
        event.updated_at and row.provider_updated_at and event.updated_at < row.provider_updated_at
    )


def _follow(
    session: Session, integration_id: str, timed: dict[str, ProviderEvent], gone: list[str]
) -> None:
    """Appointments follow their events: moved with them (audited), cancelled when they go."""
    session.flush()
    for link in appointments.links_to(session, integration_id, list(timed)):
        event = timed[link.provider_event_id]
        appointments.moved(session, link, event.start_at, event.end_at)  # type: ignore[arg-type]
    appointments.cancelled(session, appointments.links_to(session, integration_id, gone))


def _apply(
    session: Session,
    integration_id: str,
    events: list[ProviderEvent],
    full_since: datetime | None,
    window: Window | None = None,
) -> tuple[int, int]:
    """Write the changes to the cache. After a full sync (`full_since`: when its listing began)
    the cache then holds exactly what the provider listed."""
    existing = _existing(session, integration_id, [e.id for e in events])
    changed = removed = 0
    gone: list[str] = []
    if full_since is not None:
        stale = _not_listed(session, integration_id, events, full_since, window)
        for chunk in in_batches([row_id for row_id, _ in stale]):
            session.execute(delete(SyncedCalendarEvent).where(SyncedCalendarEvent.id.in_(chunk)))
        removed += len(stale)
        gone.extend(event_id for _, event_id in stale)
    timed: dict[str, ProviderEvent] = {}
    for event in events:
        row = existing.get(event.id)
        if event.status == "cancelled":
            if row is not None:
                session.delete(row)
                removed += 1
            gone.append(event.id)
            continue
        if event.start_at is None or event.end_at is None:
            continue
        if row is None:
            row = SyncedCalendarEvent(integration_id=integration_id, provider_event_id=event.id)
            session.add(row)
        elif _older(event, row):
            continue  # listed before a change made here since (a PATCH): keep the newer
        _copy(event, row)
        timed[event.id] = event
        changed += 1
    _follow(session, integration_id, timed, gone)
    return changed, removed


def sync_integration(
    factory: sessionmaker[Session], settings: Settings, integration_id: str
) -> SyncResult | None:
    """Bring the cache up to date; errors are recorded on the sync status and raised. None if
    the calendar was disconnected meanwhile, or its owner's account disabled."""
    with transaction(factory) as session:
        if not sync_status.owner_active(session, integration_id):
            # Disconnected, or a sync queued before its owner was disabled: nothing is read.
            log.info("calendar.sync_skipped_owner_inactive", integration_id=integration_id)
            return None
    began = utcnow()
    window = sync_window(settings, began)
    sync_status.began(factory, integration_id)
    try:
        fetched = _fetch(factory, settings, integration_id, window)
    except ProviderError as exc:
        sync_status.failed(factory, integration_id, exc)
        raise
    except Exception as exc:
        sync_status.failed(factory, integration_id, sync_status.internal_error(exc))
        raise
    if fetched is None:
        log.info("calendar.sync_skipped_disconnected", integration_id=integration_id)
        return None
    changes, full = fetched
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        if integration is None:
            return None  # disconnected while the provider answered
        changed, removed = _apply(
            session, integration_id, changes.events, began if full else None, window
        )
        if full:  # a new grant (a calendar connected again) is synced in full first
            appointments.relink(session, integration.user_id, integration.provider, integration.id)
        status = status_of(session, integration_id)
        status.sync_token = changes.next_sync_token
        sync_status.succeeded(status)
        if full:
            status.last_full_sync_at = status.last_success_at
        status.events_synced = (status.events_synced or 0) + changed
        record_audit(
            session,
            actor=None,
            action=AuditAction.CALENDAR_SYNCED,
            details={
                "integration_id": integration_id,
                "provider": integration.provider,
                "full": full,
                "changed": changed,
                "removed": removed,
                "calls": changes.calls,
            },
        )
    log.info("calendar.synced", integration_id=integration_id, full=full, calls=changes.calls)
    return SyncResult(full=full, calls=changes.calls, changed=changed, removed=removed)
