"""The sandbox's own Microsoft control routes under /_sandbox: the calendar vendors' shared routes
(knobs, stats, reset, accounts, events seeded and edited "in Outlook", access removed by the user,
access tokens expired) plus Microsoft's own: users added to the directory, a mailbox's events as
it holds them, an event deleted in Outlook, and delta tokens gone stale. Generated seed events are
50 minutes long.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control
from proirp.sandbox.calendar_control import ACCOUNT, calendar_control_router
from proirp.sandbox.microsoft.errors import control_error
from proirp.sandbox.microsoft.knobs import NULLABLE_KNOBS, KnobsUpdate
from proirp.sandbox.microsoft.state import MicrosoftSandbox


class NewAccount(BaseModel):
    """POST /_sandbox/accounts: a user in the sandbox's directory."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=3, pattern=ACCOUNT)
    display_name: str | None = Field(default=None, min_length=1, max_length=256)


def control_router(sandbox: MicrosoftSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (HTTP basic: client ID, secret)."""
    router = calendar_control_router(
        sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=control_error
    )

    @router.post("/accounts", status_code=201)
    async def add_account(request: Request) -> Response:
        control.admit(sandbox, request)
        new = await control.read_body(request, NewAccount, control_error)
        return JSONResponse(sandbox.add_account(new.account, new.display_name), status_code=201)

    @router.get("/events")
    async def mailbox_events(request: Request) -> Response:
        control.admit(sandbox, request)
        account = request.query_params.get("account")
        if not account:
            raise control_error(400, "name the mailbox: ?account=<user principal name>")
        events = sandbox.mailbox_events(account)
        return JSONResponse({"account": account.lower(), "count": len(events), "events": events})

    @router.delete("/events/{event_id}", status_code=204)
    async def remove_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.remove_event(event_id)
        return Response(status_code=204)

    @router.get("/subscriptions")
    async def subscriptions(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"subscriptions": sandbox.subscriptions()})

    @router.post("/subscriptions/{subscription_id}/lifecycle")
    async def lifecycle(subscription_id: str, request: Request) -> Response:
        """Send a lifecycle notification: {"lifecycleEvent": "reauthorizationRequired" |
        "subscriptionRemoved" | "missed"}."""
        control.admit(sandbox, request)
        body = await request.json()
        event = body.get("lifecycleEvent") if isinstance(body, dict) else None
        return JSONResponse(sandbox.send_lifecycle(subscription_id, str(event)))

    @router.post("/expire-delta-tokens")
    async def expire_delta_tokens(request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.expire_delta_tokens()
        return JSONResponse({"expired": True})

    return router
