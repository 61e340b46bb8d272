"""The /_sandbox routes both calendar vendors (Google, Microsoft) have besides the shared knobs,
stats and reset: accounts, events seeded and edited "on the vendor's side" (a weekly series
too; an event or one instance moved; an event edited so that its etag moves on, as a concurrent
edit would), consent removed by the user and access tokens expired, so the product's sync,
update and refresh paths can be driven from tests.

How an event is deleted (Google cancels it, Outlook removes it) and which change tokens go stale
(sync tokens, delta tokens) differ, so those routes stay with each vendor.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control

MAX_SEEDED = 100_000
MAX_SERIES = 104  # two years of weekly sessions
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


class SeedSeries(BaseModel):
    """POST /_sandbox/series: a weekly series of `count` events of `minutes` from `start` (UTC
    offset required), titled `title`."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=3, pattern=ACCOUNT)
    start: datetime
    count: int = Field(default=4, ge=1, le=MAX_SERIES)
    minutes: int = Field(default=50, ge=1, le=24 * 60)
    title: str = Field(default="Weekly session", max_length=256)


class MoveEvent(BaseModel):
    """POST /_sandbox/events/{id}/move: the event's (or instance's) new start and end."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime


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
    def move_event(self, event_id: str, start: datetime, end: datetime) -> dict[str, Any]: ...
    def touch_event(self, event_id: str) -> dict[str, Any]: ...
    def seed_series(
        self, account: str, start: datetime, end: datetime, count: int, title: str
    ) -> dict[str, Any]: ...
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
    POST /events/{id}/move, POST /events/{id}/touch, POST /series, POST /revoke and
    POST /expire-access-tokens."""
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

    @router.post("/events/{event_id}/move")
    async def move_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        move = await control.read_body(request, MoveEvent, refuse)
        if move.start.tzinfo is None or move.end.tzinfo is None:
            raise refuse(400, "start and end need a UTC offset")
        if move.end < move.start:
            raise refuse(400, "end is before start")
        return JSONResponse(sandbox.move_event(event_id, move.start, move.end))

    @router.post("/events/{event_id}/touch")
    async def touch_event(event_id: str, request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse(sandbox.touch_event(event_id))

    @router.post("/series", status_code=201)
    async def seed_series(request: Request) -> Response:
        control.admit(sandbox, request)
        series = await control.read_body(request, SeedSeries, refuse)
        if series.start.tzinfo is None:
            raise refuse(400, "start needs a UTC offset")
        end = series.start + timedelta(minutes=series.minutes)
        made = sandbox.seed_series(series.account, series.start, end, series.count, series.title)
        return JSONResponse(made, status_code=201)

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
