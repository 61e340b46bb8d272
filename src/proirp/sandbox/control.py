"""The /_sandbox control routes every vendor has: read and change the knobs, counters, reset.

A vendor builds its control router here and adds its own routes (ledger, inbound SMS, templates,
recipient events, …). Refusals keep the vendor's shape: the vendor passes how to raise one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from proirp.sandbox.errors import SandboxError, SandboxRoute

# How a vendor refuses a control request: (HTTP status, message) -> the error to raise.
Refuse = Callable[[int, str], SandboxError]

M = TypeVar("M", bound=BaseModel)


class Controllable(Protocol):
    """What the shared control routes need from a vendor's state."""

    def authenticate(self, authorization: str | None) -> None: ...
    def knobs(self) -> dict[str, Any]: ...
    def update_knobs(self, changes: dict[str, Any]) -> dict[str, Any]: ...
    def stats(self) -> dict[str, int]: ...
    def reset(self) -> None: ...


def admit(sandbox: Controllable, request: Request) -> None:
    """Let a control request in with the same credentials as the vendor's API."""
    sandbox.authenticate(request.headers.get("authorization"))


async def read_body(request: Request, model: type[M], refuse: Refuse) -> M:
    """The request's JSON body as `model` (no body reads as `{}`); a 400 naming the bad fields."""
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as error:
        # Field names only: pydantic's messages echo the input (a phone number, an address).
        fields = sorted(
            {".".join(str(part) for part in item["loc"]) or "body" for item in error.errors()}
        )
        raise refuse(400, "invalid or unknown fields: " + ", ".join(fields)) from None


def control_router(
    sandbox: Controllable,
    *,
    knobs_update: type[BaseModel],
    nullable: Collection[str],
    refuse: Refuse,
) -> APIRouter:
    """A /_sandbox router with GET/POST /config, GET /stats and POST /reset.

    `knobs_update` checks a POST /config body (only the keys given change); of its keys only
    those in `nullable` may be set to null.
    """
    router = APIRouter(prefix="/_sandbox", route_class=SandboxRoute, tags=["sandbox"])

    @router.get("/config")
    async def get_config(request: Request) -> Response:
        admit(sandbox, request)
        return JSONResponse(sandbox.knobs())

    @router.post("/config")
    async def set_config(request: Request) -> Response:
        admit(sandbox, request)
        update = await read_body(request, knobs_update, refuse)
        changes = {name: getattr(update, name) for name in update.model_fields_set}
        nulls = sorted(n for n, v in changes.items() if v is None and n not in nullable)
        if nulls:
            only = ", ".join(sorted(nullable))
            raise refuse(400, f"only {only} may be null: " + ", ".join(nulls))
        return JSONResponse(sandbox.update_knobs(changes))

    @router.get("/stats")
    async def stats(request: Request) -> Response:
        admit(sandbox, request)
        return JSONResponse(sandbox.stats())

    @router.post("/reset")
    async def reset(request: Request) -> Response:
        admit(sandbox, request)
        sandbox.reset()
        return JSONResponse({"reset": True, "config": sandbox.knobs()})

    return router
