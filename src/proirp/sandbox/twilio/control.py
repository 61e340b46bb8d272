"""The sandbox's own control routes under /_sandbox: knobs, ledger, reset, stats, inbound SMS
and MMS, and inbound webhook retries."""

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
from proirp.sandbox.twilio.media import MediaRefused, read_attachments
from proirp.sandbox.twilio.numbers import normalise_recipient
from proirp.sandbox.twilio.state import InboundDelivery, NoSuchInbound, TwilioSandbox

log = structlog.get_logger(__name__)


INBOUND_ROUTE = "/_sandbox/inbound"
NO_APP = "the sandbox was started without app_base_url"


class InboundMedia(BaseModel):
    """One attachment of a simulated inbound MMS."""

    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(min_length=1)
    content_base64: str


class InboundSms(BaseModel):
    """POST /_sandbox/inbound: a client texting one of our numbers (with `media`: an MMS)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    body: str
    media: list[InboundMedia] = Field(default_factory=list)


async def _post_to_app(sandbox: TwilioSandbox, delivery: InboundDelivery) -> Response:
    """POST the signed webhook to the app: its status and TwiML, or 502 if it was unreachable."""
    # In a thread: the app may be served by this very process and must be free to answer.
    result = await asyncio.to_thread(
        post_signed, delivery.url, delivery.params, auth_token=sandbox.config.twilio_auth_token
    )
    message_sid = delivery.params["MessageSid"]
    if result.status is None:
        log.warning("sandbox.twilio.inbound_failed", message_sid=message_sid, error=result.error)
        return JSONResponse(
            {"status": None, "twiml": None, "error": result.error, "message_sid": message_sid},
            status_code=502,
        )
    return JSONResponse({"status": result.status, "twiml": result.text, "message_sid": message_sid})


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
            attachments = read_attachments(
                [(item.content_type, item.content_base64) for item in sms.media]
            )
        except MediaRefused as refusal:
            raise ControlError(400, str(refusal)) from None
        # Media URLs point where the product reaches the Twilio API, when the sandbox knows
        # (mounted in the product); otherwise where this request reached it.
        api_root = sandbox.config.twilio_api_root or str(
            request.url.replace(query="")
        ).removesuffix(INBOUND_ROUTE)
        try:
            delivery = sandbox.receive_inbound(
                client_number, sms.to, sms.body, attachments=attachments, api_root=api_root
            )
        except LookupError:
            raise ControlError(409, NO_APP) from None
        return await _post_to_app(sandbox, delivery)

    @router.post("/inbound/{message_sid}/retry")
    async def retry_inbound(message_sid: str, request: Request) -> Response:
        control.admit(sandbox, request)
        try:
            delivery = sandbox.retry_inbound(message_sid)
        except NoSuchInbound:
            raise ControlError(404, "no inbound message has this sid") from None
        except LookupError:
            raise ControlError(409, NO_APP) from None
        return await _post_to_app(sandbox, delivery)

    return router
