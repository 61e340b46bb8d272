"""/webhooks/twilio/*: status callbacks and inbound SMS, each verified by Twilio's signature."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.comms import repository
from proirp.comms.inbound import handle_inbound
from proirp.comms.status import advance, map_twilio_status, seen_provider_event
from proirp.comms.webhook_rejection import reject_webhook
from proirp.config import Settings
from proirp.integrations.twilio.errors import reason_for
from proirp.integrations.twilio.signatures import public_url, signature_is_valid
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


async def read_form(request: Request) -> dict[str, str]:
    """The posted form (read in the event loop, so the handlers below can be plain functions
    that run in the thread pool: their database work must not block the loop)."""
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


FormDep = Annotated[dict[str, str], Depends(read_form)]


def _verified(
    request: Request, params: dict[str, str], settings: Settings
) -> dict[str, str] | None:
    token = settings.twilio_connection().auth_token
    url = public_url(settings.base_url, request.url.path, request.url.query)
    if signature_is_valid(token, url, params, request.headers.get("x-twilio-signature")):
        return params
    return None


def _reject(session: Session, hook: str, origin: RequestOrigin) -> Response:
    return reject_webhook(
        session,
        origin,
        provider="twilio",
        hook=hook,
        reason="bad or missing signature",
        message="signature check failed",
    )


@router.post("/status", response_model=None)
def status_callback(
    request: Request, form: FormDep, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    params = _verified(request, form, settings)
    if params is None:
        return _reject(session, "status", origin)
    sid = params.get("MessageSid", "")
    twilio_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    event_id = f"twilio:{sid}:{twilio_status}"
    if not sid or seen_provider_event(session, event_id):
        return Response(status_code=204)  # duplicates are acknowledged and ignored
    comm = repository.by_provider_id(session, "twilio", sid)
    ref = request.query_params.get("ref")
    if comm is None and ref:
        comm = repository.get(session, ref)
        if comm is not None and comm.provider_message_id not in (None, sid):
            comm = None  # our reference points at a different message: do not cross wires
    if comm is None:
        log.info("sms.callback_unmatched", provider_sid=sid)
        return Response(status_code=204)
    if comm.provider_message_id is None:
        comm.provider_message_id = sid  # the answer to our send was lost; the callback tells us
    code = params.get("ErrorCode") or None
    status = map_twilio_status(twilio_status)
    reason = reason_for(int(code)) if code and code.isdigit() else None
    moved = advance(
        session,
        comm,
        status,
        source="webhook",
        reason=reason,
        error_code=code,
        provider_event_id=event_id,
    )
    if moved:
        record_audit(
            session,
            actor=None,
            action=AuditAction.SMS_STATUS_CHANGED,
            client_id=comm.client_id,
            ip=origin.ip,
            details={"communication_id": comm.id, "status": status, "error_code": code},
        )
    return Response(status_code=204)


@router.post("/inbound", response_model=None)
def inbound_sms(
    request: Request, form: FormDep, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    params = _verified(request, form, settings)
    if params is None:
        return _reject(session, "inbound", origin)
    reply = handle_inbound(
        session,
        from_number=params.get("From", ""),
        body=params.get("Body", ""),
        settings=settings,
        origin=origin,
    )
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), media_type="application/xml")
