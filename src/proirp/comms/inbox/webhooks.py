"""/webhooks/twilio/inbound: a client's SMS or MMS, verified by Twilio's signature, stored in
the inbox and acted on (see receiving.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from twilio.twiml.messaging_response import MessagingResponse

from proirp.comms.inbox.receiving import InboundMessage, receive
from proirp.comms.sms.inbound import InboundSms, media_fields
from proirp.comms.sms.webhooks import FormDep, malformed, reject, verified
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=False)


@router.post("/inbound", response_model=None)
def inbound_sms(
    request: Request, form: FormDep, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    params = verified(request, form, settings)
    if params is None:
        return reject(session, "inbound", origin)
    try:
        inbound = InboundSms.model_validate(params)
        media = media_fields(params, inbound.num_media)
    except ValidationError as error:
        return malformed(session, "inbound", origin, error)
    message = InboundMessage(
        message_sid=inbound.message_sid,
        from_number=inbound.from_number,
        to_number=inbound.to_number,
        body=inbound.body,
        segments=inbound.num_segments,
        media=tuple(media),
    )
    reply = receive(session, message, settings=settings, origin=origin)
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), media_type="application/xml")
