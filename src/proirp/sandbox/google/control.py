"""The sandbox's own Google control routes under /_sandbox: the calendar vendors' shared routes
(knobs, stats, reset, accounts, events seeded and edited "in Google Calendar", access removed by
the user, access tokens expired) plus Google's own: an event deleted in Google Calendar (cancelled)
and sync tokens gone stale."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from proirp.sandbox import control
from proirp.sandbox.calendar_control import calendar_control_router
from proirp.sandbox.google.errors import control_error
from proirp.sandbox.google.knobs import NULLABLE_KNOBS, KnobsUpdate
from proirp.sandbox.google.state import GoogleSandbox


def control_router(sandbox: GoogleSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (HTTP basic: client ID, secret)."""
    router = calendar_control_router(
        sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=control_error
    )

    @router.delete("/events/{event_id}", status_code=204)
    async def cancel_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.cancel_event(event_id)
        return Response(status_code=204)

    @router.get("/channels")
    async def channels(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"channels": sandbox.channels()})

    @router.post("/expire-sync-tokens")
    async def expire_sync_tokens(request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.expire_sync_tokens()
        return JSONResponse({"expired": True})

    return router
