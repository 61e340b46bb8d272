"""/calendar: connect a provider (OAuth), list and create events, list and remove integrations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response

from proirp.auth.dependencies import AnyStaff
from proirp.auth.models import Role, User
from proirp.calendars import oauth, service
from proirp.calendars.providers import PROVIDERS, calendar_provider, check_provider, redirect_uri
from proirp.calendars.schemas import (
    ConnectStarted,
    Disconnected,
    EventAnswer,
    EventCreate,
    EventList,
    IntegrationList,
    SyncAccepted,
)
from proirp.config import Settings
from proirp.config.pages import SETTINGS_PAGE
from proirp.integrations.base import ProviderError
from proirp.kit.deps import OriginDep, SessionDep, SessionFactoryDep, SettingsDep
from proirp.kit.errors import Forbidden, NotFound, ValidationFailed
from proirp.kit.input import DATE_TIME, iso_time
from proirp.kit.openapi import errors
from proirp.kit.time import utcnow
from proirp.worker.after_commit import enqueue_after_commit

router = APIRouter(prefix="/calendar", tags=["calendars"])
DEFAULT_SPAN = timedelta(days=7)
# Listed for /openapi.json; check_provider() still answers any other name with its own 422.
ProviderName = Annotated[str, Path(json_schema_extra={"enum": list(PROVIDERS)})]


def _outcome(settings: Settings, provider: str, outcome: str) -> RedirectResponse:
    """Back to where the user manages calendars, saying how the connection went: the practice's
    own front end (FRONTEND_URL) if it has one, else the Settings page."""
    query = urlencode({"provider": provider, "outcome": outcome})
    where = (
        f"{str(settings.frontend_url).rstrip('/')}/settings"
        if settings.frontend_url
        else SETTINGS_PAGE
    )
    return RedirectResponse(f"{where}?{query}", status_code=303)


@router.get(
    "/integrations",
    response_model=IntegrationList,
    response_model_exclude_unset=True,
    summary="List calendar connections",
    responses=errors(404),
)
def list_integrations(
    session: SessionDep,
    user: AnyStaff,
    user_id: Annotated[str | None, Query(max_length=32)] = None,
    provider: Annotated[str | None, Query(max_length=16)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """The caller's integrations; an admin may ask for a colleague's (never their events)."""
    owner = user.id
    if user_id and user_id != user.id:
        if user.role != Role.ADMIN:
            raise Forbidden("only an admin can see a colleague's calendar connections")
        if session.get(User, user_id) is None:
            raise NotFound("no staff member with that id", code="user_not_found")
        owner = user_id
    body: dict[str, Any] = {"ok": True, "integrations": service.integration_views(session, owner)}
    if outcome:
        body["outcome"] = {"provider": provider, "result": outcome}
    return body


@router.delete(
    "/integrations/{provider}",
    response_model=Disconnected,
    response_model_exclude_unset=True,
    summary="Disconnect a calendar",
    responses=errors(404),
)
def remove_integration(
    provider: ProviderName,
    session: SessionDep,
    user: AnyStaff,
    settings: SettingsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    check_provider(provider)
    outcome = service.disconnect(session, user, provider, settings, origin)
    return {"ok": True, "provider": provider, **outcome}


@router.post(
    "/integrations/{provider}/sync",
    status_code=202,
    response_model=SyncAccepted,
    summary="Sync a calendar now",
    responses=errors(404),
)
def sync_now(provider: ProviderName, session: SessionDep, user: AnyStaff) -> JSONResponse:
    """Ask the worker to sync this calendar now (it also syncs every few minutes)."""
    check_provider(provider)
    integration = service.integration_of(session, user.id, provider)
    if integration is None:
        raise NotFound("that calendar is not connected", code="calendar_not_connected")
    enqueue_after_commit(session, "calendars.sync", integration.id)
    return JSONResponse({"ok": True, "provider": provider}, status_code=202)


@router.get("/events", response_model=EventList, summary="List calendar events")
def list_events(
    session: SessionDep,
    user: AnyStaff,
    origin: OriginDep,
    start: Annotated[str | None, Query(max_length=64, json_schema_extra=DATE_TIME)] = None,
    end: Annotated[str | None, Query(max_length=64, json_schema_extra=DATE_TIME)] = None,
    provider: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """The cached events from `start` to `end` (ISO 8601 with an offset); without them, the next
    seven days (as the Node version's front end asks, plainly)."""
    start_at, end_at = iso_time("start", start), iso_time("end", end)
    try:
        start_at = start_at or (end_at - DEFAULT_SPAN if end_at else utcnow())
        end_at = end_at or start_at + DEFAULT_SPAN
    except OverflowError:
        field = "start" if start else "end"
        raise ValidationFailed(
            f"{field} is too far from today", fields={field: "is out of range"}
        ) from None
    if end_at <= start_at:
        raise ValidationFailed("end must be after start", fields={"end": "is before start"})
    if provider:
        check_provider(provider)
    events = service.list_events(
        session, user, start=start_at, end=end_at, provider=provider, origin=origin
    )
    return {"ok": True, "events": events}


@router.post(
    "/events",
    status_code=201,
    response_model=EventAnswer,
    summary="Create a calendar event",
    responses=errors(409, 503),
)
def create_event(
    body: EventCreate,
    session: SessionDep,
    factory: SessionFactoryDep,
    user: AnyStaff,
    settings: SettingsDep,
    origin: OriginDep,
) -> JSONResponse:
    check_provider(body.provider)
    event = service.create_event(session, factory, user, body, settings, origin)
    return JSONResponse({"ok": True, "event": event}, status_code=201)


@router.get(
    "/{provider}/connect",
    response_model=ConnectStarted,
    summary="Start connecting a calendar (OAuth)",
    responses=errors(503),
)
def connect(
    provider: ProviderName, session: SessionDep, user: AnyStaff, settings: SettingsDep
) -> dict[str, Any]:
    check_provider(provider)
    return {"ok": True, "authUrl": oauth.start_connect(session, user, provider, settings)}


# The provider sends the browser here: not an API call, so not in /openapi.json.
@router.get("/{provider}/callback", response_model=None, include_in_schema=False)
def callback(
    provider: str,
    session: SessionDep,
    user: AnyStaff,
    settings: SettingsDep,
    origin: OriginDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    check_provider(provider)
    try:
        started = oauth.consume_state(session, user, provider, state, origin)
    except oauth.ConnectRefused:
        # A person's browser is here: back to Settings, saying so (the reason is audited).
        return _outcome(settings, provider, "refused")
    if error or not code:
        oauth.record_denied(session, user, provider, origin)
        return _outcome(settings, provider, "denied")
    flow = started.code_verifier
    session.commit()  # the state is spent; no lock is held while the provider answers
    adapter = calendar_provider(settings, provider)
    try:
        tokens = adapter.exchange_code(
            code=code, state=str(state), flow=flow, redirect_uri=redirect_uri(settings, provider)
        )
        email = adapter.account_email(tokens.access_token)
    except ProviderError as exc:
        oauth.record_failure(session, user, provider, exc.reason, origin)
        return _outcome(settings, provider, "failed")
    integration = oauth.store_connection(session, user, provider, tokens, email, origin)
    enqueue_after_commit(session, "calendars.sync", integration.id)
    enqueue_after_commit(session, "calendars.push_start", integration.id)
    return _outcome(settings, provider, "connected")
