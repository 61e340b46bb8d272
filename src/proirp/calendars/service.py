"""The calendar layer: integrations, events (served from the cache), creating events with an
optional client link, and disconnecting. Each user sees and changes only their own calendars;
an admin can see that a colleague has one connected, never its events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.calendars import appointments, push
from proirp.calendars.event_text import DEFAULT_TITLE, check_event_text
from proirp.calendars.models import (
    CalendarIntegration,
    CalendarSyncStatus,
    ClientCalendarEvent,
    SyncedCalendarEvent,
)
from proirp.calendars.provider_calls import call_provider
from proirp.calendars.providers import calendar_provider
from proirp.calendars.schemas import EventCreate
from proirp.clients.access import require_reachable
from proirp.clients.models import Client
from proirp.clients.repository import get_client
from proirp.config import Settings
from proirp.integrations.base import ProviderError
from proirp.integrations.calendar import CalendarProvider, EventInput, ProviderEvent
from proirp.kit.errors import NotFound, ValidationFailed
from proirp.kit.time import utcnow


def _audit(
    session: Session, user: User, action: AuditAction, origin: RequestOrigin, **details: Any
) -> None:
    record_audit(
        session,
        actor=user.id,
        action=action,
        client_id=details.pop("client_id", None),
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
    )


def integration_of(session: Session, user_id: str, provider: str) -> CalendarIntegration | None:
    return session.scalar(
        select(CalendarIntegration).where(
            CalendarIntegration.user_id == user_id, CalendarIntegration.provider == provider
        )
    )


def integration_views(session: Session, user_id: str) -> list[dict[str, Any]]:
    """The user's integrations as the Node version showed them; never a token."""
    stmt = (
        select(CalendarIntegration, CalendarSyncStatus)
        .outerjoin(CalendarSyncStatus, CalendarSyncStatus.integration_id == CalendarIntegration.id)
        .where(CalendarIntegration.user_id == user_id)
        .order_by(CalendarIntegration.provider)
    )
    views = []
    for integration, status in session.execute(stmt):
        view = {
            "provider": integration.provider,
            "account_email": integration.account_email,
            "status": integration.status,
            "last_synced_at": status.last_success_at.isoformat()
            if status and status.last_success_at
            else None,
            "last_error": status.last_error if status else None,
        }
        if integration.status == "needs_reauth":
            view["message"] = "Access was withdrawn; connect this calendar again."
        views.append(view)
    return views


def list_events(
    session: Session,
    user: User,
    *,
    start: datetime,
    end: datetime,
    provider: str | None,
    origin: RequestOrigin,
) -> list[dict[str, Any]]:
    stmt = (
        select(SyncedCalendarEvent, CalendarIntegration.provider)
        .join(CalendarIntegration, CalendarIntegration.id == SyncedCalendarEvent.integration_id)
        .where(
            CalendarIntegration.user_id == user.id,
            SyncedCalendarEvent.end_at > start,
            SyncedCalendarEvent.start_at < end,
        )
        .order_by(SyncedCalendarEvent.start_at, SyncedCalendarEvent.id)
    )
    if provider:
        stmt = stmt.where(CalendarIntegration.provider == provider)
    rows = session.execute(stmt).all()
    links = (
        {
            link.synced_event_id: link.client_id
            for link in session.scalars(
                select(ClientCalendarEvent).where(
                    ClientCalendarEvent.synced_event_id.in_([r[0].id for r in rows]),
                    appointments.active(),
                )
            )
        }
        if rows
        else {}
    )
    # Which clients' appointments were seen (ids only), as for any read of client records.
    seen = sorted({client_id for client_id in links.values() if client_id})
    _audit(
        session, user, AuditAction.CALENDAR_EVENTS_VIEWED, origin, count=len(rows), client_ids=seen
    )
    return [
        {
            "id": event.id,
            "provider": name,
            "provider_event_id": event.provider_event_id,
            "title": event.title,
            "description": event.description,
            "location": event.location,
            "start": event.start_at.isoformat(),
            "end": event.end_at.isoformat(),
            "all_day": event.all_day,
            "status": event.status,
            "client_id": links.get(event.id),
        }
        for event, name in rows
    ]


def create_event(
    session: Session,
    factory: sessionmaker[Session],
    user: User,
    body: EventCreate,
    settings: Settings,
    origin: RequestOrigin,
) -> dict[str, Any]:
    """Create at the provider first, then cache it and link the client. Nothing is created at
    the provider when validation fails."""
    client = _client_to_link(session, body.client_id, user, origin)
    integration = integration_of(session, user.id, body.provider)
    if integration is None:
        raise ValidationFailed(
            "connect that calendar first", fields={"provider": "is not connected"}
        )
    title = body.title or DEFAULT_TITLE
    check_event_text(settings, body.provider, client, **_event_texts(title, body))
    zone = body.time_zone or (client.timezone if client else None) or settings.practice_timezone
    wanted = EventInput(
        title=title,
        start_at=body.start,
        end_at=body.end,
        time_zone=zone or "UTC",
        description=body.description,
        location=body.location,
    )
    integration_id = integration.id
    # End the request's transaction before talking to the provider: no lock is held during the
    # call, and the token's own transaction (a refresh) is free to run.
    session.commit()
    created = call_provider(
        factory,
        settings,
        body.provider,
        integration_id,
        lambda provider, token: provider.create_event(token, wanted),
    )
    row = _cache_created_event(session, integration_id, created, wanted)
    if client is not None:
        appointments.link(session, user, row, client, body.provider)
    _audit(
        session,
        user,
        AuditAction.CALENDAR_EVENT_CREATED,
        origin,
        provider=body.provider,
        event_id=row.id,
        client_id=client.id if client else None,
    )
    return {
        "id": row.id,
        "provider": body.provider,
        "provider_event_id": created.id,
        "title": row.title,
        "start": row.start_at.isoformat(),
        "end": row.end_at.isoformat(),
        "client_id": client.id if client else None,
    }


def _event_texts(title: str, body: EventCreate) -> dict[str, str | None]:
    """What the provider is sent as text, by request field."""
    return {"title": title, "description": body.description, "location": body.location}


def _client_to_link(
    session: Session, client_id: str | None, user: User, origin: RequestOrigin
) -> Client | None:
    """The client an event is to be linked to (None: no link); refused if there is none such,
    or none the user may see (clients.access)."""
    if not client_id:
        return None
    client = get_client(session, client_id)
    if client is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    require_reachable(session, user.id, client.id, origin=origin)
    return client


def _cache_created_event(
    session: Session, integration_id: str, created: ProviderEvent, body: EventInput
) -> SyncedCalendarEvent:
    """The new event in the cache at once, as the provider answered (what it left out, as asked)."""
    row = SyncedCalendarEvent(
        integration_id=integration_id,
        provider_event_id=created.id,
        calendar_id=created.calendar_id,
        title=created.title or body.title,
        description=created.description,
        location=created.location,
        start_at=created.start_at or body.start_at,
        end_at=created.end_at or body.end_at,
        all_day=created.all_day,
        status=created.status,
        etag=created.etag,
        provider_updated_at=created.updated_at,
    )
    session.add(row)
    session.flush()
    return row


def _usable_token(integration: CalendarIntegration, adapter: CalendarProvider) -> str | None:
    """An access token for a last call at disconnect: the stored one while fresh, else a
    refreshed one (not stored: the tokens are about to be deleted); None if neither works."""
    expires = integration.token_expires_at
    if integration.access_token and expires is not None and expires > utcnow():
        return integration.access_token
    if not integration.refresh_token:
        return None
    try:
        return adapter.refresh(integration.refresh_token).access_token
    except ProviderError:
        return None


def disconnect(
    session: Session, user: User, provider: str, settings: Settings, origin: RequestOrigin
) -> dict[str, Any]:
    """Revoke at the provider where it can, delete the tokens and the cache; links stay as
    history, gone, until the same calendar is connected again (then each is linked again).

    Returns whether the provider confirmed the revocation and, where it cannot revoke
    (Microsoft), how the user removes the app's access there.
    """
    integration = integration_of(session, user.id, provider)
    if integration is None:
        raise NotFound("that calendar is not connected", code="calendar_not_connected")
    adapter = calendar_provider(settings, provider)
    # Before the grant goes: stopping the channel needs its access token.
    push.stop_at_disconnect(session, settings, integration, _usable_token(integration, adapter))
    revoked = adapter.can_revoke
    token = integration.refresh_token or integration.access_token
    if token and adapter.can_revoke:
        try:
            adapter.revoke(token)
        except ProviderError:
            revoked = False  # the tokens are deleted here anyway; the user can revoke at Google
    session.execute(
        update(ClientCalendarEvent)
        .where(
            ClientCalendarEvent.integration_id == integration.id,
            ClientCalendarEvent.gone_at.is_(None),
        )
        # Kept as history, neither cancelled nor unlinked: the calendar connected again finds
        # them (appointments.relink); the reminders wait for that.
        .values(gone_at=utcnow(), synced_event_id=None, integration_id=None)
    )
    session.execute(
        delete(SyncedCalendarEvent).where(SyncedCalendarEvent.integration_id == integration.id)
    )
    session.execute(
        delete(CalendarSyncStatus).where(CalendarSyncStatus.integration_id == integration.id)
    )
    integration_id = integration.id
    session.delete(integration)
    _audit(
        session,
        user,
        AuditAction.CALENDAR_DISCONNECTED,
        origin,
        provider=provider,
        integration_id=integration_id,
        revoked=revoked,
    )
    result: dict[str, Any] = {"revoked": revoked}
    if not revoked and adapter.consent_removal:
        result["message"] = adapter.consent_removal
    return result
