"""/calendar/events/{id}: move, edit or cancel an event (at the provider first), link a client
to it or unlink one; /calendar/sync-status: where each of the user's calendars stands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from proirp.auth.dependencies import AnyStaff
from proirp.calendars import event_changes, sync_status
from proirp.calendars.schemas import (
    EventDeleted,
    EventLink,
    EventPatch,
    EventUpdated,
    LinkAnswer,
    SyncStatusList,
)
from proirp.kit.deps import OriginDep, SessionDep, SessionFactoryDep, SettingsDep
from proirp.kit.openapi import errors

router = APIRouter(prefix="/calendar", tags=["calendars"])
EventId = Annotated[str, Path(max_length=32)]


@router.patch(
    "/events/{event_id}",
    response_model=EventUpdated,
    summary="Move or edit a calendar event",
    responses=errors(404, 409, 503),
)
def update_event(
    event_id: EventId,
    body: EventPatch,
    session: SessionDep,
    factory: SessionFactoryDep,
    user: AnyStaff,
    settings: SettingsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    """Changed at the provider first, only if nobody changed it there since the last sync
    (409 `event_changed` if they did); a linked appointment moves with it."""
    event = event_changes.update_event(session, factory, user, event_id, body, settings, origin)
    return {"ok": True, "event": event}


@router.delete(
    "/events/{event_id}",
    response_model=EventDeleted,
    summary="Cancel a calendar event",
    responses=errors(404, 409, 503),
)
def delete_event(
    event_id: EventId,
    session: SessionDep,
    factory: SessionFactoryDep,
    user: AnyStaff,
    settings: SettingsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    """Deleted at the provider first (409 `event_changed` if it was changed there since the
    last sync); a linked appointment is cancelled and its reminders with it."""
    event_changes.delete_event(session, factory, user, event_id, settings, origin)
    return {"ok": True, "event": {"id": event_id, "status": "cancelled"}}


@router.post(
    "/events/{event_id}/link",
    status_code=201,
    response_model=LinkAnswer,
    summary="Link a client to a calendar event (an appointment)",
    responses=errors(404, 409),
)
def link_client(
    event_id: EventId, body: EventLink, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> JSONResponse:
    link = event_changes.link_client(session, user, event_id, body.client_id, origin)
    answer = {"ok": True, "appointment": event_changes.appointment_view(link, event_id)}
    return JSONResponse(answer, status_code=201)


@router.delete(
    "/events/{event_id}/link",
    response_model=LinkAnswer,
    summary="Unlink the client from a calendar event",
    responses=errors(404),
)
def unlink_client(
    event_id: EventId, session: SessionDep, user: AnyStaff, origin: OriginDep
) -> dict[str, Any]:
    """The event stays in the calendar; the appointment ends (its reminders are cancelled)."""
    link = event_changes.unlink_client(session, user, event_id, origin)
    return {"ok": True, "appointment": event_changes.appointment_view(link, event_id)}


@router.get("/sync-status", response_model=SyncStatusList, summary="Calendar sync status")
def sync_status_of_mine(session: SessionDep, user: AnyStaff) -> dict[str, Any]:
    """Each of your calendars: ok, syncing, error or needs_reauth; the last success, the last
    error in plain words, when it is tried again after errors, and the events cached."""
    return {"ok": True, "integrations": sync_status.views(session, user.id)}
