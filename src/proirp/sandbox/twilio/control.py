"""The sandbox's own control routes under /_sandbox: knobs, ledger, reset, stats, inbound SMS."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from proirp.sandbox import control
from proirp.sandbox.twilio.callbacks import post_signed
from proirp.sandbox.twilio.errors import ControlError
from proirp.sandbox.twilio.knobs import NULLABLE_KNOBS, KnobsUpdate
from proirp.sandbox.twilio.numbers import normalise_recipient
from proirp.sandbox.twilio.state import TwilioSandbox

log = structlog.get_logger(__name__)


class InboundSms(BaseModel):
    """POST /_sandbox/inbound: a client texting one of our numbers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    body: str


def control_router(sandbox: TwilioSandbox) -> APIRouter:
    """Routes that drive the sandbox in tests and from the UI (same basic auth as the API)."""
    router = control.control_router(
        sandbox, knobs_update=KnobsUpdate, nullable=NULLABLE_KNOBS, refuse=ControlError
    )

    @router.get("/ledger")
    async def ledger(request: Request, include_inbound: bool = False) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"messages": sandbox.ledger(include_inbound=include_inbound)})

    @router.get("/optouts")
    async def opt_outs(request: Request) -> Response:
        control.admit(sandbox, request)
        return JSONResponse({"opt_outs": sandbox.opt_outs()})

    @router.post("/inbound")
    async def inbound(request: Request) -> Response:
        control.admit(sandbox, request)
        sms = await control.read_body(request, InboundSms, ControlError)
        client_number = normalise_recipient(sms.from_)
        if client_number is None:
            raise ControlError(400, "'from' is not a valid phone number")
        try:
            delivery = sandbox.receive_inbound(client_number, sms.to, sms.body)
        except LookupError:
            raise ControlError(409, "the sandbox was started without app_base_url") from None
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
