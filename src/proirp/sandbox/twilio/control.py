"""The sandbox's own control routes under /_sandbox: knobs, ledger, reset, stats, inbound SMS."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proirp.sandbox.twilio.callbacks import post_signed
from proirp.sandbox.twilio.errors import TwilioRoute
from proirp.sandbox.twilio.knobs import KnobsUpdate
from proirp.sandbox.twilio.numbers import normalise_recipient
from proirp.sandbox.twilio.state import TwilioSandbox

log = structlog.get_logger(__name__)


class InboundSms(BaseModel):
    """POST /_sandbox/inbound: a client texting one of our numbers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    body: str


def _bad_request(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"message": message, "status": status}, status_code=status)


def _invalid(error: ValidationError) -> JSONResponse:
    # Field names only: pydantic's messages echo the input, which may be a phone number.
    fields = sorted(
        {".".join(str(part) for part in item["loc"]) or "body" for item in error.errors()}
    )
    return _bad_request("invalid or unknown fields: " + ", ".join(fields))


def control_router(sandbox: TwilioSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (same basic auth as the API)."""
    router = APIRouter(prefix="/_sandbox", route_class=TwilioRoute, tags=["sandbox"])

    def admit(request: Request) -> None:
        sandbox.authenticate(request.headers.get("authorization"))

    @router.get("/config")
    async def get_config(request: Request) -> Response:
        admit(request)
        return JSONResponse(sandbox.knobs())

    @router.post("/config")
    async def set_config(request: Request) -> Response:
        admit(request)
        try:
            update = KnobsUpdate.model_validate_json(await request.body() or b"{}")
        except ValidationError as error:
            return _invalid(error)
        changes = {name: getattr(update, name) for name in update.model_fields_set}
        nulls = sorted(name for name, value in changes.items() if value is None and name != "mps")
        if nulls:
            return _bad_request("only mps may be null: " + ", ".join(nulls))
        return JSONResponse(sandbox.update_knobs(changes))

    @router.get("/ledger")
    async def ledger(request: Request, include_inbound: bool = False) -> Response:
        admit(request)
        return JSONResponse({"messages": sandbox.ledger(include_inbound=include_inbound)})

    @router.get("/stats")
    async def stats(request: Request) -> Response:
        admit(request)
        return JSONResponse(sandbox.stats())

    @router.get("/optouts")
    async def opt_outs(request: Request) -> Response:
        admit(request)
        return JSONResponse({"opt_outs": sandbox.opt_outs()})

    @router.post("/reset")
    async def reset(request: Request) -> Response:
        admit(request)
        sandbox.reset()
        return JSONResponse({"reset": True, "config": sandbox.knobs()})

    @router.post("/inbound")
    async def inbound(request: Request) -> Response:
        admit(request)
        try:
            sms = InboundSms.model_validate_json(await request.body() or b"{}")
        except ValidationError as error:
            return _invalid(error)
        client_number = normalise_recipient(sms.from_)
        if client_number is None:
            return _bad_request("'from' is not a valid phone number")
        try:
            delivery = sandbox.receive_inbound(client_number, sms.to, sms.body)
        except LookupError:
            return _bad_request("the sandbox was started without app_base_url", status=409)
        # In a thread: the app may be served by this very process and must be free to answer.
        result = await asyncio.to_thread(
            post_signed, delivery.url, delivery.params, auth_token=sandbox.config.twilio_auth_token
        )
        message_sid = delivery.params["MessageSid"]
        if result.status is None:
            log.warning(
                "sandbox.twilio.inbound_failed", message_sid=message_sid, error=result.error
            )
            return JSONResponse(
                {"status": None, "twiml": None, "error": result.error, "message_sid": message_sid},
                status_code=502,
            )
        return JSONResponse(
            {"status": result.status, "twiml": result.text, "message_sid": message_sid}
        )

    return router
