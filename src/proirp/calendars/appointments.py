"""Appointments as the calendar keeps them: a client linked to a cached event, moved and
cancelled with it. Reminders are planned from these rows by `appointments/`, which reads the
state and times this module keeps current.

An active link has neither `gone_at` (the event went) nor `unlinked_at` (staff unlinked it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.auth.models import User
from proirp.calendars.models import ClientCalendarEvent, SyncedCalendarEvent
from proirp.clients.models import Client
from proirp.kit.db import in_batches
from proirp.kit.errors import Conflict, NotFound
from proirp.kit.time import utcnow


def active() -> ColumnElement[bool]:
    return and_(ClientCalendarEvent.gone_at.is_(None), ClientCalendarEvent.unlinked_at.is_(None))


def link_of(session: Session, event: SyncedCalendarEvent) -> ClientCalendarEvent | None:
    return session.scalar(
        select(ClientCalendarEvent).where(
            ClientCalendarEvent.integration_id == event.integration_id,
            ClientCalendarEvent.provider_event_id == event.provider_event_id,
            active(),
        )
    )


def _audit(
    session: Session,
    action: AuditAction,
    link: ClientCalendarEvent,
    *,
    user: User | None = None,
    origin: RequestOrigin | None = None,
    **details: Any,
) -> None:
    record_audit(
        session,
        actor=user.id if user else None,
        action=action,
        client_id=link.client_id,
        ip=origin.ip if origin else None,
        user_agent=origin.user_agent if origin else None,
        details={"appointment_id": link.id, "provider": link.provider, **details},
    )


def _already_linked() -> Conflict:
    return Conflict(
        "that event is already linked to a client; unlink it first", code="already_linked"
    )


def link(
    session: Session,
    user: User,
    event: SyncedCalendarEvent,
    client: Client,
    provider: str,
    origin: RequestOrigin | None = None,
) -> ClientCalendarEvent:
    """Link a client to an event of the user's calendar; refused if it already has a client
    (also when two links race: the database holds one active link per event)."""
    if link_of(session, event) is not None:
        raise _already_linked()
    row = ClientCalendarEvent(
        client_id=client.id,
        user_id=user.id,
        integration_id=event.integration_id,
        synced_event_id=event.id,
        provider=provider,
        provider_event_id=event.provider_event_id,
        start_at=event.start_at,
        end_at=event.end_at,
        state="scheduled",
        state_changed_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise _already_linked() from None
    if origin is not None:
        _audit(session, AuditAction.APPOINTMENT_LINKED, row, user=user, origin=origin)
    return row


def unlink(
    session: Session, user: User, event: SyncedCalendarEvent, origin: RequestOrigin
) -> ClientCalendarEvent:
    row = link_of(session, event)
    if row is None:
        raise NotFound("that event is not linked to a client", code="not_linked")
    row.unlinked_at = utcnow()
    _audit(session, AuditAction.APPOINTMENT_UNLINKED, row, user=user, origin=origin)
    return row


def moved(
    session: Session,
    link: ClientCalendarEvent,
    start_at: datetime,
    end_at: datetime,
    *,
    user: User | None = None,
    origin: RequestOrigin | None = None,
) -> bool:
    """The event now runs from `start_at` to `end_at`: the appointment follows, `moved` if its
    start changed (its pending reminders are then planned again). Returns whether it moved."""
    if link.start_at == start_at and link.end_at == end_at:
        return False
    started = link.start_at != start_at
    link.start_at, link.end_at = start_at, end_at
    if not started:
        return False
    if link.state != "cancelled":
        link.state = "moved"
        link.state_changed_at = utcnow()
    _audit(session, AuditAction.APPOINTMENT_MOVED, link, user=user, origin=origin)
    return True


def cancelled(
    session: Session,
    links: Iterable[ClientCalendarEvent],
    *,
    user: User | None = None,
    origin: RequestOrigin | None = None,
    at_provider: bool = True,
) -> int:
    """The events of `links` are gone (cancelled or deleted): so are their appointments."""
    now = utcnow()
    count = 0
    for row in links:
        row.gone_at = now
        row.synced_event_id = None
        row.state = "cancelled"
        row.state_changed_at = now
        _audit(
            session,
            AuditAction.APPOINTMENT_CANCELLED,
            row,
            user=user,
            origin=origin,
            by="provider" if at_provider else "staff",
        )
        count += 1
    return count


def links_to(
    session: Session, integration_id: str, provider_event_ids: list[str]
) -> list[ClientCalendarEvent]:
    """The active appointments of these events of one integration."""
    found: list[ClientCalendarEvent] = []
    for chunk in in_batches(provider_event_ids):
        found.extend(
            session.scalars(
                select(ClientCalendarEvent).where(
                    ClientCalendarEvent.integration_id == integration_id,
                    ClientCalendarEvent.provider_event_id.in_(chunk),
                    active(),
                )
            )
        )
    return found


def relink(session: Session, user_id: str, provider: str, integration_id: str) -> int:
    """The calendar, connected again: each appointment its disconnecting left (kept as
    history, neither cancelled nor unlinked, without its integration) whose event it still
    holds is linked to that event again, audited, and moved with it if it moved meanwhile (its
    reminders are then planned again). Where two were left for one event, the newest; none
    where the event has a client again already. Returns how many."""
    events = {
        row.provider_event_id: row
        for row in session.scalars(
            select(SyncedCalendarEvent).where(SyncedCalendarEvent.integration_id == integration_id)
        )
    }
    left: list[ClientCalendarEvent] = []
    for chunk in in_batches(list(events)):
        left.extend(
            session.scalars(
                select(ClientCalendarEvent).where(
                    ClientCalendarEvent.user_id == user_id,
                    ClientCalendarEvent.provider == provider,
                    ClientCalendarEvent.integration_id.is_(None),
                    ClientCalendarEvent.provider_event_id.in_(chunk),
                    ClientCalendarEvent.gone_at.is_not(None),
                    ClientCalendarEvent.unlinked_at.is_(None),
                    ClientCalendarEvent.state != "cancelled",
                )
            )
        )
    taken = {
        row.provider_event_id
        for row in links_to(session, integration_id, [row.provider_event_id for row in left])
    }
    count = 0
    for row in sorted(left, key=lambda row: row.created_at, reverse=True):
        if row.provider_event_id in taken:
            continue
        taken.add(row.provider_event_id)
        event = events[row.provider_event_id]
        row.integration_id, row.synced_event_id, row.gone_at = integration_id, event.id, None
        _audit(session, AuditAction.APPOINTMENT_RELINKED, row)
        if event.start_at is not None and event.end_at is not None:
            moved(session, row, event.start_at, event.end_at)  # moved while disconnected
        count += 1
    return count
