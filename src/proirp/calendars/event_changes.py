"""Changing a cached event: move or edit it, cancel it, link a client to it or unlink one.

A change is made at the provider first, only if the event still has the etag we cached
(`If-Match`): an edit made at the provider meanwhile is never overwritten (409 `event_changed`).
Then the cache and the appointment follow, in the request's transaction.

An event stays its user's own, but a change to one linked to a client (moved, edited, unlinked)
changes that client's appointment and reminders: it is refused, as a client named in a request
is, when the user may no longer reach the client (taken off the care team, a grant ended).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.calendars import appointments
from proirp.calendars.event_text import check_event_text
from proirp.calendars.models import CalendarIntegration, ClientCalendarEvent, SyncedCalendarEvent
from proirp.calendars.provider_calls import call_provider
from proirp.calendars.schemas import EventPatch
from proirp.clients.access import require_reachable
from proirp.clients.models import Client
from proirp.clients.repository import get_client
from proirp.config import Settings
from proirp.integrations.calendar import EventChange, EventNotAtProvider, ProviderEvent
from proirp.kit.errors import Conflict, NotFound, ValidationFailed


def owned_event(
    session: Session, user: User, event_id: str
) -> tuple[SyncedCalendarEvent, CalendarIntegration]:
    """The event, if it is in one of the user's calendars (anyone else's is "not found")."""
    row = session.execute(
        select(SyncedCalendarEvent, CalendarIntegration)
        .join(CalendarIntegration, CalendarIntegration.id == SyncedCalendarEvent.integration_id)
        .where(SyncedCalendarEvent.id == event_id, CalendarIntegration.user_id == user.id)
    ).first()
    if row is None:
        raise NotFound("no event with that id in your calendars", code="event_not_found")
    return row[0], row[1]


def _audit(
    session: Session,
    user: User,
    action: AuditAction,
    origin: RequestOrigin,
    event: SyncedCalendarEvent,
    provider: str,
    link: ClientCalendarEvent | None,
    **details: Any,
) -> None:
    record_audit(
        session,
        actor=user.id,
        action=action,
        client_id=link.client_id if link else None,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"event_id": event.id, "provider": provider, **details},
    )


def _client_of(session: Session, link: ClientCalendarEvent | None) -> Client | None:
    return get_client(session, link.client_id) if link else None


def _change(body: EventPatch, event: SyncedCalendarEvent, zone: str) -> EventChange:
    start = body.start or event.start_at
    end = body.end or event.end_at
    if (body.start or body.end) and end <= start:
        field = "end" if body.end else "start"
        raise ValidationFailed(
            "the event must end after it starts",
            fields={field: "must be before end" if field == "start" else "must be after start"},
        )
    moving = body.start is not None or body.end is not None
    return EventChange(
        title=body.title,
        description=body.description,
        location=body.location,
        start_at=start if moving else None,
        end_at=end if moving else None,
        time_zone=zone if moving else None,
    )


def _client_to_change(
    session: Session,
    user: User,
    event: SyncedCalendarEvent,
    provider: str,
    body: EventPatch,
    settings: Settings,
    origin: RequestOrigin,
) -> Client | None:
    """The client whose appointment the change moves, if any: refused when the user may no
    longer reach them, and the change's text checked for what the provider may receive."""
    link = appointments.link_of(session, event)
    if link is not None:
        require_reachable(session, user.id, link.client_id, origin=origin)
    client = _client_of(session, link)
    texts = {"title": body.title, "description": body.description, "location": body.location}
    check_event_text(settings, provider, client, **texts)
    return client


def update_event(
    session: Session,
    factory: sessionmaker[Session],
    user: User,
    event_id: str,
    body: EventPatch,
    settings: Settings,
    origin: RequestOrigin,
) -> dict[str, Any]:
    """The event changed at the provider, then in the cache; its appointment moved with it."""
    event, integration = owned_event(session, user, event_id)
    client = _client_to_change(session, user, event, integration.provider, body, settings, origin)
    zone = body.time_zone or (client.timezone if client else None) or settings.practice_timezone
    change = _change(body, event, zone or "UTC")
    ids = (integration.provider, integration.id, event.provider_event_id, event.etag)
    session.commit()  # no lock is held while the provider answers
    provider_name, integration_id, provider_event_id, etag = ids
    try:
        updated: ProviderEvent = call_provider(
            factory,
            settings,
            provider_name,
            integration_id,
            lambda provider, token: provider.update_event(
                token, provider_event_id, change, etag=etag
            ),
        )
    except EventNotAtProvider:
        updated = ProviderEvent(id=provider_event_id, status="cancelled")
    if updated.status == "cancelled":  # deleted there (Google keeps a deleted event, cancelled)
        _gone(session, user, event_id, origin)
        session.commit()  # kept, though the answer is an error
        raise Conflict(
            "the event no longer exists in the calendar; it was removed here too",
            code="event_gone",
        )
    event, _ = owned_event(session, user, event_id)
    _cache(event, updated)
    link = appointments.link_of(session, event)
    if link is not None:
        appointments.moved(session, link, event.start_at, event.end_at, user=user, origin=origin)
    fields = sorted(k for k, v in body.model_dump(exclude_unset=True).items() if v is not None)
    _audit(
        session,
        user,
        AuditAction.CALENDAR_EVENT_UPDATED,
        origin,
        event,
        provider_name,
        link,
        fields=fields,
    )
    return event_view(event, provider_name, link)


def event_view(
    event: SyncedCalendarEvent, provider: str, link: ClientCalendarEvent | None
) -> dict[str, Any]:
    return {
        "id": event.id,
        "provider": provider,
        "provider_event_id": event.provider_event_id,
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "start": event.start_at.isoformat(),
        "end": event.end_at.isoformat(),
        "all_day": event.all_day,
        "status": event.status,
        "client_id": link.client_id if link else None,
    }


def appointment_view(link: ClientCalendarEvent, event_id: str | None) -> dict[str, Any]:
    return {
        "id": link.id,
        "event_id": event_id,
        "provider": link.provider,
        "client_id": link.client_id,
        "start": link.start_at.isoformat() if link.start_at else None,
        "end": link.end_at.isoformat() if link.end_at else None,
        "state": link.state,
    }


def _cache(row: SyncedCalendarEvent, event: ProviderEvent) -> None:
    """The cached event as the provider now has it (its new etag included)."""
    row.title = event.title
    row.description = event.description
    row.location = event.location
    if event.start_at and event.end_at:
        row.start_at, row.end_at = event.start_at, event.end_at
    row.all_day = event.all_day
    row.status = event.status
    row.etag = event.etag
    row.provider_updated_at = event.updated_at


def _gone(session: Session, user: User, event_id: str, origin: RequestOrigin) -> str:
    """The event is gone at the provider: out of the cache, its appointment cancelled."""
    event, integration = owned_event(session, user, event_id)
    link = appointments.link_of(session, event)
    if link is not None:
        appointments.cancelled(session, [link], user=user, origin=origin, at_provider=False)
    _audit(
        session, user, AuditAction.CALENDAR_EVENT_DELETED, origin, event, integration.provider, link
    )
    session.delete(event)
    return integration.provider


def delete_event(
    session: Session,
    factory: sessionmaker[Session],
    user: User,
    event_id: str,
    settings: Settings,
    origin: RequestOrigin,
) -> None:
    """Cancel the event at the provider, then here; its appointment is cancelled."""
    event, integration = owned_event(session, user, event_id)
    ids = (integration.provider, integration.id, event.provider_event_id, event.etag)
    session.commit()
    provider_name, integration_id, provider_event_id, etag = ids
    with suppress(EventNotAtProvider):  # already gone there: remove it here as well
        call_provider(
            factory,
            settings,
            provider_name,
            integration_id,
            lambda provider, token: provider.delete_event(token, provider_event_id, etag=etag),
        )
    _gone(session, user, event_id, origin)


def link_client(
    session: Session, user: User, event_id: str, client_id: str, origin: RequestOrigin
) -> ClientCalendarEvent:
    event, integration = owned_event(session, user, event_id)
    client = get_client(session, client_id)
    if client is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    require_reachable(session, user.id, client.id, origin=origin)
    return appointments.link(session, user, event, client, integration.provider, origin)


def unlink_client(
    session: Session, user: User, event_id: str, origin: RequestOrigin
) -> ClientCalendarEvent:
    event, _ = owned_event(session, user, event_id)
    link = appointments.link_of(session, event)
    if link is not None:
        require_reachable(session, user.id, link.client_id, origin=origin)
    return appointments.unlink(session, user, event, origin)
