"""The Google API routes: OpenID Connect userinfo and Calendar API v3, as the official clients call
them.

Mounted at `<root>/google/api`, the sandbox's `https://www.googleapis.com`. The Calendar routes sit
at the discovery document's paths under `calendar/v3/`, so `googleapiclient.discovery.build(
"calendar", "v3", client_options={"api_endpoint": "<root>/google/api/calendar/v3/"})` reaches them
(api_endpoint replaces rootUrl and servicePath together). Requests are read by hand so that every
refusal comes back in Google's error shape, never as FastAPI's 422. Checks run in the live API's
order: token, quota, then the request itself. events.patch and events.delete honour `If-Match`
(412 conditionNotMet when the event's etag has moved on).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox.errors import SandboxRoute
from proirp.sandbox.google.errors import GoogleApiError, OAuthError, server_fault
from proirp.sandbox.google.listing import parse_list_query
from proirp.sandbox.google.oauth import USERINFO_PATH
from proirp.sandbox.google.state import GoogleSandbox
from proirp.sandbox.google.tokens import Bearer

CALENDAR_PREFIX = "/calendar/v3"
CALENDAR_LIST_PATH = "/users/me/calendarList"
EVENTS_PATH = "/calendars/{calendarId}/events"
EVENT_PATH = "/calendars/{calendarId}/events/{eventId}"
WATCH_PATH = "/calendars/{calendarId}/events/watch"
STOP_PATH = "/channels/stop"


async def _json_body(request: Request) -> object:
    try:
        body: object = json.loads(await request.body() or b"{}")
    except (UnicodeDecodeError, ValueError):
        raise GoogleApiError(400, "parseError", "Parse Error") from None
    return body


def api_router(sandbox: GoogleSandbox) -> APIRouter:
    """userinfo plus calendarList.list, events.list/get/insert/patch/delete/watch and
    channels.stop."""
    router = APIRouter(route_class=SandboxRoute, tags=["google"])

    async def admit(request: Request) -> Bearer:
        # Latency first: a real API makes you wait for its refusals too.
        await sandbox.pause()
        bearer = sandbox.bearer(request.headers.get("authorization"))
        sandbox.admit_rate(bearer.account)
        failure = sandbox.take_failure()
        if failure is not None:
            raise server_fault(failure)
        return bearer

    async def answer(body: dict[str, object] | None, status: int = 200) -> Response:
        hold = sandbox.take_timeout()
        if hold is not None:
            # The change is made; only the answer is late.
            await asyncio.sleep(hold)
        if body is None:
            return Response(status_code=status)
        return JSONResponse(body, status_code=status)

    @router.api_route(USERINFO_PATH, methods=["GET", "POST"])
    async def userinfo(request: Request) -> Response:
        await sandbox.pause()
        try:
            bearer = sandbox.bearer(request.headers.get("authorization"))
        except GoogleApiError as error:
            # The userinfo endpoint answers in the OAuth shape, not the Calendar API's.
            raise OAuthError(
                401, "invalid_request", "Invalid Credentials", headers=error.headers
            ) from None
        return JSONResponse(sandbox.userinfo(bearer))

    @router.get(CALENDAR_PREFIX + CALENDAR_LIST_PATH)
    async def calendar_list(request: Request) -> Response:
        bearer = await admit(request)
        return await answer(sandbox.calendar_list(bearer))

    @router.get(CALENDAR_PREFIX + EVENTS_PATH)
    async def list_events(calendarId: str, request: Request) -> Response:
        bearer = await admit(request)
        try:
            query = parse_list_query(request.query_params)
        except GoogleApiError:
            sandbox.count("rejected_4xx")
            raise
        return await answer(sandbox.list_events(bearer, calendarId, query))

    @router.post(CALENDAR_PREFIX + EVENTS_PATH)
    async def insert_event(calendarId: str, request: Request) -> Response:
        bearer = await admit(request)
        body = await _json_body(request)
        return await answer(sandbox.insert_event(bearer, calendarId, body))

    @router.post(CALENDAR_PREFIX + WATCH_PATH)
    async def watch_events(calendarId: str, request: Request) -> Response:
        bearer = await admit(request)
        body = await _json_body(request)
        return await answer(sandbox.watch(bearer, calendarId, body))

    @router.post(CALENDAR_PREFIX + STOP_PATH)
    async def stop_channel(request: Request) -> Response:
        bearer = await admit(request)
        body = await _json_body(request)
        sandbox.stop_channel(bearer, body)
        return await answer(None, status=204)

    @router.get(CALENDAR_PREFIX + EVENT_PATH)
    async def get_event(calendarId: str, eventId: str, request: Request) -> Response:
        bearer = await admit(request)
        return await answer(sandbox.get_event(bearer, calendarId, eventId))

    @router.patch(CALENDAR_PREFIX + EVENT_PATH)
    async def patch_event(calendarId: str, eventId: str, request: Request) -> Response:
        bearer = await admit(request)
        body = await _json_body(request)
        if_match = request.headers.get("if-match")
        event = sandbox.patch_event(bearer, calendarId, eventId, body, if_match=if_match)
        return await answer(event)

    @router.delete(CALENDAR_PREFIX + EVENT_PATH)
    async def delete_event(calendarId: str, eventId: str, request: Request) -> Response:
        bearer = await admit(request)
        if_match = request.headers.get("if-match")
        sandbox.delete_event(bearer, calendarId, eventId, if_match=if_match)
        return await answer(None, status=204)

    return router
