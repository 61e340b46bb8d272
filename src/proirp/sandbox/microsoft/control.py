"""The sandbox's own Microsoft control routes under /_sandbox: knobs, stats, reset, accounts, and
changes made "on Microsoft's side" (events edited or deleted in Outlook, access removed by the
user, delta tokens gone stale) so the product's sync and refresh paths can be driven from tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control
from proirp.sandbox.microsoft.errors import control_error
from proirp.sandbox.microsoft.knobs import NULLABLE_KNOBS, KnobsUpdate
from proirp.sandbox.microsoft.state import MicrosoftSandbox

MAX_SEEDED = 100_000
ACCOUNT = r"^[^@\s]+@[^@\s]+$"


class NewAccount(BaseModel):
    """POST /_sandbox/accounts: a user in the sandbox's directory."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=3, pattern=ACCOUNT)
    display_name: str | None = Field(default=None, min_length=1, max_length=256)


class SeedEvents(BaseModel):
    """POST /_sandbox/events: events that appear in an account's mailbox.

    `events` are Graph event bodies (subject, start, end, …); `count` more are generated an hour
    apart from `start` (default: the next full hour), 50 minutes long.
    """

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=3, pattern=ACCOUNT)
    events: list[dict[str, Any]] = Field(default_factory=list)
    count: int = Field(default=0, ge=0, le=MAX_SEEDED)
    start: datetime | None = None


class AccountOnly(BaseModel):
    """POST /_sandbox/revoke: the account whose consent is removed."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=3)


def control_router(sandbox: MicrosoftSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (HTTP basic: client ID, secret)."""
    router = control.control_router(
        sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=control_error
    )

    @router.get("/accounts")
    async def accounts(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"accounts": sandbox.accounts()})

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

    @router.post("/events", status_code=201)
    async def seed_events(request: Request) -> Response:
        control.admit(sandbox, request)
        seed = await control.read_body(request, SeedEvents, control_error)
        if seed.start is not None and seed.start.tzinfo is None:
            raise control_error(400, "start needs a UTC offset")
        ids = sandbox.seed_events(seed.account, seed.events, seed.count, seed.start)
        return JSONResponse({"created": len(ids), "ids": ids}, status_code=201)

    @router.patch("/events/{event_id}")
    async def change_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        try:
            body = await request.json()
        except ValueError:
            raise control_error(400, "the body must be a JSON object") from None
        return JSONResponse(sandbox.change_event(event_id, body))

    @router.delete("/events/{event_id}", status_code=204)
    async def remove_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.remove_event(event_id)
        return Response(status_code=204)

    @router.post("/revoke")
    async def revoke_account(request: Request) -> Response:
        control.admit(sandbox, request)
        target = await control.read_body(request, AccountOnly, control_error)
        return JSONResponse({"revoked_grants": sandbox.revoke_account(target.account)})

    @router.post("/expire-access-tokens")
    async def expire_access_tokens(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"expired": sandbox.expire_access_tokens()})

    @router.post("/expire-delta-tokens")
    async def expire_delta_tokens(request: Request) -> Response:
        control.admit(sandbox, request)
        sandbox.expire_delta_tokens()
        return JSONResponse({"expired": True})

    return router
