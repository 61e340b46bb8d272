"""Keeping `synced_calendar_events` current: a full sync over the window, then incremental syncs
with the stored sync token (Google's syncToken, Graph's deltaLink); a stale token (410) clears
the cache and syncs in full again.
Cancelled events leave the cache, and appointments linked to them are marked gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import record_audit
from proirp.calendars.limits import in_flight
from proirp.calendars.models import (
    CalendarIntegration,
    CalendarSyncStatus,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.calendars.provider import Changes, ProviderEvent, SyncTokenExpired
from proirp.calendars.providers import calendar_provider
from proirp.calendars.tokens import access_token
from proirp.config import Settings
from proirp.integrations.base import ProviderError
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SyncResult:
    full: bool
    calls: int
    changed: int
    removed: int


def _status(session: Session, integration_id: str) -> CalendarSyncStatus:
    status = session.scalar(
        select(CalendarSyncStatus).where(CalendarSyncStatus.integration_id == integration_id)
    )
    if status is None:
        status = CalendarSyncStatus(integration_id=integration_id)
        session.add(status)
    return status


def _fetch(
    factory: sessionmaker[Session], settings: Settings, integration_id: str
) -> tuple[Changes, bool]:
    with transaction(factory) as session:
        integration = session.get(CalendarIntegration, integration_id)
        assert integration is not None
        provider_name = integration.provider
        sync_token = _status(session, integration_id).sync_token
    provider = calendar_provider(settings, provider_name)
    token = access_token(factory, settings, integration_id)
    now = utcnow()
    window = (
        now - timedelta(days=settings.calendar_sync_days_back),
        now + timedelta(days=settings.calendar_sync_days_ahead),
    )
    if sync_token:
        try:
            with in_flight(provider, integration_id):
                changes = provider.list_changes(
                    token, sync_token=sync_token, time_min=window[0], time_max=window[1]
                )
            return changes, False
        except SyncTokenExpired:
            log.info("calendar.full_sync_required", integration_id=integration_id)
            with transaction(factory) as session:
                session.execute(
                    delete(SyncedCalendarEvent).where(
                        SyncedCalendarEvent.integration_id == integration_id
                    )
                )
                _status(session, integration_id).sync_token = None
    with in_flight(provider, integration_id):
        changes = provider.list_changes(
            token, sync_token=None, time_min=window[0], time_max=window[1]
        )
    return changes, True


def _existing(
    session: Session, integration_id: str, ids: list[str]
) -> dict[str, SyncedCalendarEvent]:
    found: dict[str, SyncedCalendarEvent] = {}
    for start in range(0, len(ids), 1000):
        stmt = select(SyncedCalendarEvent).where(
            SyncedCalendarEvent.integration_id == integration_id,
            SyncedCalendarEvent.provider_event_id.in_(ids[start : start + 1000]),
        )
        found.update((row.provider_event_id, row) for row in session.scalars(stmt))
    return found


def _apply(session: Session, integration_id: str, events: list[ProviderEvent]) -> tuple[int, int]:
    existing = _existing(session, integration_id, [e.id for e in events])
    changed = removed = 0
    gone: list[str] = []
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
        row.calendar_id = event.calendar_id
        row.title = event.title
        row.description = event.description
        row.location = event.location
        row.start_at = event.start_at
        row.end_at = event.end_at
        row.all_day = event.all_day
        row.status = event.status
        row.etag = event.etag
        row.provider_updated_at = event.updated_at
        changed += 1
    if gone:
        session.execute(
            update(ClientCalendarEvent)
            .where(
                ClientCalendarEvent.integration_id == integration_id,
                ClientCalendarEvent.provider_event_id.in_(gone),
                ClientCalendarEvent.gone_at.is_(None),
            )
            .values(gone_at=utcnow(), synced_event_id=None)
        )
    return changed, removed


def sync_integration(
    factory: sessionmaker[Session], settings: Settings, integration_id: str
) -> SyncResult:
    """Bring the cache up to date; errors are recorded on the sync status and raised."""
    try:
        changes, full = _fetch(factory, settings, integration_id)
    except ProviderError as exc:
        with transaction(factory) as session:
            status = _status(session, integration_id)
            status.last_error = exc.reason[:300]
            status.last_error_at = utcnow()
        raise
    with transaction(factory) as session:
        changed, removed = _apply(session, integration_id, changes.events)
        status = _status(session, integration_id)
        status.sync_token = changes.next_sync_token
        status.last_success_at = utcnow()
        status.last_error = None
        if full:
            status.last_full_sync_at = status.last_success_at
        status.events_synced = (status.events_synced or 0) + changed
        integration = session.get(CalendarIntegration, integration_id)
        record_audit(
            session,
            actor=None,
            action="CALENDAR_SYNCED",
            details={
                "integration_id": integration_id,
                "provider": integration.provider if integration else None,
                "full": full,
                "changed": changed,
                "removed": removed,
                "calls": changes.calls,
            },
        )
    log.info("calendar.synced", integration_id=integration_id, full=full, calls=changes.calls)
    return SyncResult(full=full, calls=changes.calls, changed=changed, removed=removed)
