"""/webhooks/twilio/status: status callbacks, verified by Twilio's signature and kept to be
applied in batches (comms/sms/intake.py); the helpers that verify and refuse are shared with the
inbound route (comms/inbox/webhooks.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from proirp.audit.service import RequestOrigin
from proirp.comms.core.webhook_rejection import reject_webhook
from proirp.comms.sms.intake import keep_callback
from proirp.comms.sms.status import StatusCallback
from proirp.config import Settings
from proirp.integrations.twilio.signatures import public_url, signature_is_valid
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=False)


async def read_form(request: Request) -> dict[str, str]:
    """The posted form (read in the event loop, so the handlers below can be plain functions
    that run in the thread pool: their database work must not block the loop)."""
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


FormDep = Annotated[dict[str, str], Depends(read_form)]


def verified(request: Request, params: dict[str, str], settings: Settings) -> dict[str, str] | None:
    token = settings.twilio_connection().auth_token
    url = public_url(settings.base_url, request.url.path, request.url.query)
    if signature_is_valid(token, url, params, request.headers.get("x-twilio-signature")):
        return params
    return None


def malformed(
    session: Session, hook: str, origin: RequestOrigin, error: ValidationError
) -> Response:
    """A genuine request with a field that does not fit: refused (400) naming the field."""
    fields = {str(e["loc"][0]): str(e["msg"]) for e in error.errors() if e["loc"]}
    return refuse_fields(session, hook, origin, fields)


def refuse_fields(
    session: Session, hook: str, origin: RequestOrigin, fields: dict[str, str]
) -> Response:
    """Refuse (400) a genuine request whose `fields` do not fit."""
    return reject_webhook(
        session,
        origin,
        provider="twilio",
        hook=hook,
        reason=f"malformed field: {', '.join(fields)}",
        status=400,
        message=f"{hook} refused: a field does not fit",
        fields=fields,
    )


def reject(session: Session, hook: str, origin: RequestOrigin) -> Response:
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
    params = verified(request, form, settings)
    if params is None:
        return reject(session, "status", origin)
    try:
        callback = StatusCallback.model_validate(params)
    except ValidationError as error:
        return malformed(session, "status", origin, error)
    if callback.message_sid:  # one that names no message is acknowledged and ignored
        # Kept, and applied within a second by the worker (comms/sms/intake.py): the answer
        # waits for nothing but this insert.
        keep_callback(session, callback, request.query_params.get("ref"), origin)
    return Response(status_code=204)  # duplicates too: Twilio must not send them again
