"""Today: the user's appointments today, conversations waiting (urgent first), the messages they
sent that failed, and their calendars that need connecting again."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from proirp.appointments.service import user_appointments
from proirp.calendars.service import integration_views
from proirp.comms.inbox.practice import inbox_practice
from proirp.comms.inbox.service import list_inbox
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep
from proirp.kit.time import utcnow
from proirp.web.reads import client_names, recent_failures
from proirp.web.rendering import render
from proirp.web.routing import PageUser, page_router

router = page_router()
WAITING_SHOWN = 10


@router.get("/")
def today(
    request: Request, user: PageUser, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    zone = ZoneInfo(inbox_practice(session, settings).timezone)
    day = utcnow().astimezone(zone).date()
    start = datetime.combine(day, time.min, tzinfo=zone)
    appointments = user_appointments(
        session, user.id, start=start, end=start + timedelta(days=1), origin=origin
    )
    conversations, _ = list_inbox(
        session, user_id=user.id, origin=origin, limit=WAITING_SHOWN, offset=0
    )
    waiting = [c for c in conversations if c["urgent"] or c["unread"]]
    failures = recent_failures(session, user.id, origin=origin)
    calendars = [c for c in integration_views(session, user.id) if c["status"] == "needs_reauth"]
    names = client_names(
        session,
        [a.client_id for a in appointments]
        + [c["client_id"] for c in waiting]
        + [f.client_id for f in failures],
        viewer=user.id,
    )
    return render(
        request,
        "today.html",
        user=user,
        day=day,
        zone=zone,
        appointments=appointments,
        waiting=waiting,
        failures=failures,
        calendars=calendars,
        names=names,
    )
