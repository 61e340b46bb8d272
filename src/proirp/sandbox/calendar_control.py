"""The /_sandbox routes both calendar vendors (Google, Microsoft) have besides the shared knobs,
stats and reset: accounts, events seeded and edited "on the vendor's side", consent removed by
the user and access tokens expired, so the product's sync and refresh paths can be driven from
tests.

How an event is deleted (Google cancels it, Outlook removes it) and which change tokens go stale
(sync tokens, delta tokens) differ, so those routes stay with each vendor.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control

MAX_SEEDED = 100_000
ACCOUNT = r"^[^@\s]+@[^@\s]+$"


class SeedEvents(BaseModel):
    """POST /_sandbox/events: events that appear in an account's calendar.

    `events` are the vendor's event bodies (a Google Event resource, a Graph event); `count`
    more are generated an hour apart from `start` (default: the next full hour).
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


class CalendarSide(control.Controllable, Protocol):
    """What the shared calendar control routes need from a vendor's state."""

    def accounts(self) -> list[dict[str, Any]]: ...
    def seed_events(
        self, account: str, bodies: list[dict[str, Any]], count: int, start: datetime | None
    ) -> list[str]: ...
    def change_event(self, event_id: str, body: object) -> dict[str, Any]: ...
    def revoke_account(self, account: str) -> int: ...
    def expire_access_tokens(self) -> int: ...


def calendar_control_router(
    sandbox: CalendarSide,
    *,
    knobs_update: type[BaseModel],
    nullable: Collection[str],
    refuse: control.Refuse,
) -> APIRouter:
    """control.control_router's routes plus GET /accounts, POST /events, PATCH /events/{id},
    POST /revoke and POST /expire-access-tokens."""
    router = control.control_router(
        sandbox, knobs_update=knobs_update, nullable=nullable, refuse=refuse
    )

    @router.get("/accounts")
    async def accounts(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"accounts": sandbox.accounts()})

    @router.post("/events", status_code=201)
    async def seed_events(request: Request) -> Response:
        control.admit(sandbox, request)
        seed = await control.read_body(request, SeedEvents, refuse)
        if seed.start is not None and seed.start.tzinfo is None:
            raise refuse(400, "start needs a UTC offset")
        ids = sandbox.seed_events(seed.account, seed.events, seed.count, seed.start)
        return JSONResponse({"created": len(ids), "ids": ids}, status_code=201)

    @router.patch("/events/{event_id}")
    async def change_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        try:
            body = await request.json()
        except ValueError:
            raise refuse(400, "the body must be a JSON object") from None
        return JSONResponse(sandbox.change_event(event_id, body))

    @router.post("/revoke")
    async def revoke_account(request: Request) -> Response:
        control.admit(sandbox, request)
        target = await control.read_body(request, AccountOnly, refuse)
        return JSONResponse({"revoked_grants": sandbox.revoke_account(target.account)})

    @router.post("/expire-access-tokens")
    async def expire_access_tokens(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"expired": sandbox.expire_access_tokens()})

    return router
