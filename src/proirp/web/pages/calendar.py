"""Calendar: the user's week from their connected calendars, in the practice's time zone, each
event with its client's name if it is an appointment; new appointments for a client; an event
moved, cancelled, linked to a client or unlinked. Every change goes to the provider first, as
the API's does."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from proirp.audit.service import RequestOrigin
from proirp.auth.models import User
from proirp.calendars import event_changes, service
from proirp.calendars.providers import check_provider
from proirp.calendars.schemas import EventCreate, EventLink, EventPatch
from proirp.clients import service as clients
from proirp.clients.service import Actor
from proirp.comms.inbox.practice import inbox_practice
from proirp.config import Settings
from proirp.kit.deps import OriginDep, SessionDep, SessionFactoryDep, SettingsDep
from proirp.kit.errors import ValidationFailed
from proirp.kit.input import day_of
from proirp.kit.pagination import MAX_LIMIT, PageParams
from proirp.kit.time import utcnow
from proirp.web.reads import client_names
from proirp.web.rendering import PREFIX, render
from proirp.web.routing import CheckedForm, PageUser, field, page_router

router = page_router()
CALENDAR = f"{PREFIX}/calendar"
CALENDARS = {"google": "Google Calendar", "microsoft": "Outlook"}
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
DEFAULT_START, DEFAULT_END = "09:00", "09:50"
# Fixed words for each outcome: the address carries a code, never anything a person typed.
DONE = {
    "created": "The appointment is made, in your calendar too.",
    "moved": "The event is moved, in your calendar too; its reminders follow it.",
    "cancelled": "The event is cancelled and removed from your calendar; an appointment's "
    "reminders are cancelled with it.",
    "linked": "The event is linked to the client: it is an appointment now, with reminders.",
    "unlinked": "The client is unlinked: the event stays in your calendar; its reminders are "
    "cancelled.",
}
Week = Annotated[str | None, Query(max_length=10)]
Code = Annotated[str | None, Query(max_length=40)]
EventId = Annotated[str, Path(max_length=32)]
ClientId = Annotated[str | None, Query(max_length=32)]


def practice_zone(session: Session, settings: Settings) -> ZoneInfo:
    return ZoneInfo(inbox_practice(session, settings).timezone)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week_of(week: str | None, zone: ZoneInfo) -> date:
    """The Monday of the week holding `week` (YYYY-MM-DD), or of this week."""
    if week:
        return _monday(day_of("week", week))
    return _monday(utcnow().astimezone(zone).date())


def _form_week(form: FormData) -> str | None:
    """The week a form was sent from, to go back to (nothing if it is not a date)."""
    value = field(form, "week")
    try:
        return _monday(day_of("week", value)).isoformat() if value else None
    except ValidationFailed:
        return None


def _back(done: str, week: str | None) -> RedirectResponse:
    query = (f"week={week}&" if week else "") + f"done={done}"
    return RedirectResponse(f"{CALENDAR}?{query}", status_code=303)


def _local(form: FormData, day_field: str, time_field: str) -> str:
    """A wall-clock time in the practice's time zone, as the schema reads it (with `timeZone`)."""
    day, clock = field(form, day_field), field(form, time_field)
    day_of(day_field, day or "")
    if clock is None or not CLOCK.match(clock[:5]) or len(clock) not in (5, 8):
        raise ValidationFailed(
            "Choose a time.", fields={time_field: "must be a time of day as HH:MM"}
        )
    return f"{day}T{clock}"


def _shown(event: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    start = datetime.fromisoformat(event["start"]).astimezone(zone)
    end = datetime.fromisoformat(event["end"]).astimezone(zone)
    return {
        **event,
        "start_at": start,
        "end_at": end,
        "calendar": CALENDARS.get(event["provider"], event["provider"]),
    }


def _week_view(
    session: Session, user: User, monday: date, zone: ZoneInfo, origin: RequestOrigin
) -> list[dict[str, Any]]:
    """The seven days from `monday`, each with its events (an audited read, as the API's)."""
    start = datetime.combine(monday, time.min, tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=zone)
    events = service.list_events(session, user, start=start, end=end, provider=None, origin=origin)
    days: list[dict[str, Any]] = [
        {"date": monday + timedelta(days=n), "events": []} for n in range(7)
    ]
    for event in events:
        shown = _shown(event, zone)
        index = min(max((shown["start_at"].date() - monday).days, 0), 6)
        days[index]["events"].append(shown)
    return days


@router.get("/calendar")
def calendar_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    week: Week = None,
    done: Code = None,
) -> Response:
    zone = practice_zone(session, settings)
    monday = _week_of(week, zone)
    days = _week_view(session, user, monday, zone, origin)
    names = client_names(
        session, [e["client_id"] for d in days for e in d["events"]], viewer=user.id
    )
    calendars = service.integration_views(session, user.id)
    today = utcnow().astimezone(zone).date()
    return render(
        request,
        "calendar.html",
        user=user,
        notice=DONE.get(done or ""),
        days=days,
        names=names,
        zone=zone,
        monday=monday,
        sunday=monday + timedelta(days=6),
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        this_week=_monday(today).isoformat(),
        today=today,
        week=monday.isoformat(),
        calendars=calendars,
    )


def _client_choices(
    session: Session, user: User, origin: RequestOrigin, chosen: str | None
) -> tuple[list[tuple[str, str]], bool]:
    """(id, "Last, First") of the newest clients, as the API's client list reads them (audited),
    the chosen one too if it is older; and whether there are more clients than listed."""
    actor = Actor(user.id, origin)
    found, more = clients.list_clients(
        session, q=None, page=PageParams(limit=MAX_LIMIT, cursor=None), actor=actor
    )
    listed = list(found)
    if chosen and chosen not in {c.id for c in listed}:
        listed.append(clients.get_client(session, chosen, actor=actor))
    choices = [(c.id, f"{c.last_name}, {c.first_name}") for c in listed]
    return sorted(choices, key=lambda choice: choice[1].lower()), more is not None


@router.get("/calendar/new")
def new_appointment_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    week: Week = None,
    client_id: ClientId = None,
) -> Response:
    zone = practice_zone(session, settings)
    monday = _week_of(week, zone)
    today = utcnow().astimezone(zone).date()
    day = today if monday == _monday(today) else monday
    calendars = [
        (c["provider"], CALENDARS.get(c["provider"], c["provider"]))
        for c in service.integration_views(session, user.id)
        if c["status"] != "needs_reauth"
    ]
    choices, more = _client_choices(session, user, origin, client_id) if calendars else ([], False)
    return render(
        request,
        "calendar_new.html",
        user=user,
        calendars=calendars,
        clients=choices,
        more_clients=more,
        chosen=client_id,
        day=day.isoformat(),
        start=DEFAULT_START,
        end=DEFAULT_END,
        week=monday.isoformat(),
        zone_name=str(zone),
    )


@router.post("/calendar/new")
def create_appointment(
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> RedirectResponse:
    """As POST /calendar/events with a client: made at the provider, then linked."""
    client_id = field(form, "client_id")
    if client_id is None:
        raise ValidationFailed("Choose a client.", fields={"client_id": "choose a client"})
    zone = inbox_practice(session, settings).timezone
    body = EventCreate.model_validate(
        {
            "provider": field(form, "provider") or "",
            "title": field(form, "title"),
            "timeZone": zone,
            "start": _local(form, "date", "start"),
            "end": _local(form, "date", "end"),
            "client_id": client_id,
        }
    )
    check_provider(body.provider)
    service.create_event(session, factory, user, body, settings, origin)
    week = _monday(body.start.astimezone(ZoneInfo(zone)).date()).isoformat()
    return _back("created", week)


@router.post("/calendar/events/{event_id}/move")
def move_event(
    event_id: EventId,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> RedirectResponse:
    """As PATCH /calendar/events/{id} with a new start and end."""
    zone = inbox_practice(session, settings).timezone
    body = EventPatch.model_validate(
        {
            "timeZone": zone,
            "start": _local(form, "date", "start"),
            "end": _local(form, "date", "end"),
        }
    )
    event_changes.update_event(session, factory, user, event_id, body, settings, origin)
    assert body.start is not None  # the form always carries both
    week = _monday(body.start.astimezone(ZoneInfo(zone)).date()).isoformat()
    return _back("moved", week)


@router.post("/calendar/events/{event_id}/cancel")
def cancel_event(
    event_id: EventId,
    user: PageUser,
    form: CheckedForm,
    session: SessionDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    origin: OriginDep,
) -> RedirectResponse:
    """As DELETE /calendar/events/{id}."""
    event_changes.delete_event(session, factory, user, event_id, settings, origin)
    return _back("cancelled", _form_week(form))


@router.get("/calendar/events/{event_id}/link")
def link_page(
    request: Request,
    event_id: EventId,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    week: Week = None,
) -> Response:
    """Choose the client an event is an appointment with."""
    zone = practice_zone(session, settings)
    row, integration = event_changes.owned_event(session, user, event_id)
    span = max(row.end_at, row.start_at + timedelta(minutes=1))
    events = service.list_events(
        session, user, start=row.start_at, end=span, provider=integration.provider, origin=origin
    )
    event = next((_shown(e, zone) for e in events if e["id"] == event_id), None)
    names = client_names(session, [event["client_id"]] if event else [], viewer=user.id)
    linked = bool(event and event["client_id"])
    choices, more = ([], False) if linked else _client_choices(session, user, origin, None)
    monday = _week_of(week, zone) if week else _monday(row.start_at.astimezone(zone).date())
    return render(
        request,
        "calendar_link.html",
        user=user,
        event_id=event_id,
        event=event,
        names=names,
        linked=linked,
        clients=choices,
        more_clients=more,
        week=monday.isoformat(),
    )


@router.post("/calendar/events/{event_id}/link")
def link_event(
    event_id: EventId, user: PageUser, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    """As POST /calendar/events/{id}/link."""
    body = EventLink.model_validate({"client_id": field(form, "client_id") or ""})
    event_changes.link_client(session, user, event_id, body.client_id, origin)
    return _back("linked", _form_week(form))


@router.post("/calendar/events/{event_id}/unlink")
def unlink_event(
    event_id: EventId, user: PageUser, form: CheckedForm, session: SessionDep, origin: OriginDep
) -> RedirectResponse:
    """As DELETE /calendar/events/{id}/link."""
    event_changes.unlink_client(session, user, event_id, origin)
    return _back("unlinked", _form_week(form))
