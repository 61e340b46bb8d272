"""POST /webhooks/sendgrid/events: SendGrid's signed Event Webhook.

Each batch is verified (ECDSA over timestamp + raw body, within 5 minutes) before anything is
read. Each event is applied once (its `sg_event_id`), finds its message through our id in the
custom args, and moves the status only forward; bounces, drops, spam reports and unsubscribes
also put the address on the suppression list.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, lock_audit_chain, record_audit
from proirp.comms import repository
from proirp.comms.email_service import suppression_key
from proirp.comms.status import (
    SENDGRID_SUPPRESSING_EVENTS,
    advance,
    map_sendgrid_event,
    seen_provider_event,
)
from proirp.comms.suppression import suppress
from proirp.comms.webhook_rejection import reject_webhook
from proirp.integrations.sendgrid.adapter import REFERENCE_ARG
from proirp.integrations.sendgrid.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_problem,
)
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks/sendgrid", tags=["webhooks"])


async def read_body(request: Request) -> bytes:
    """The raw body, exactly as signed (read in the event loop; the handler runs in a thread)."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(read_body)]


def _reject(session: Session, origin: RequestOrigin, reason: str, status: int) -> Response:
    return reject_webhook(
        session,
        origin,
        provider="sendgrid",
        hook="events",
        reason=reason,
        status=status,
        message=f"events refused: {reason}",
    )


def _event_error(event: dict[str, Any]) -> str | None:
    """SendGrid's reason code for a failure (e.g. a bounce's SMTP status), never its text."""
    for key in ("status", "type"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value[:32]
    return None


def _reason(name: str, event: dict[str, Any]) -> str | None:
    if name == "bounce":
        kind = "blocked by" if event.get("type") == "blocked" else "bounced at"
        return f"The email {kind} the recipient's mail server."
    if name == "dropped":
        return "SendGrid dropped the email (the address is invalid or suppressed at SendGrid)."
    if name == "deferred":
        return "The recipient's mail server deferred the email; SendGrid keeps trying."
    return None


def apply_event(session: Session, event: dict[str, Any], origin: RequestOrigin) -> str:
    """Apply one event; returns what happened (for counting, never logged with its content)."""
    name = str(event.get("event", "")).lower()
    event_id = str(event.get("sg_event_id") or "")
    provider_event_id = f"sendgrid:{event_id}" if event_id else None
    if provider_event_id and seen_provider_event(session, provider_event_id):
        return "duplicate"
    address = str(event.get("email") or "")
    comm = None
    reference = event.get(REFERENCE_ARG)
    if isinstance(reference, str) and reference:
        comm = repository.get(session, reference)
        if comm is not None and (
            comm.channel != "email" or suppression_key(comm.to_address) != suppression_key(address)
        ):
            comm = None  # our id with another address: do not cross wires
    outcome = "unmatched"
    if comm is not None:
        if comm.provider_message_id is None and event.get("sg_message_id"):
            # The answer to our send was lost; the event tells us SendGrid has the message.
            comm.provider_message_id = str(event["sg_message_id"]).split(".", 1)[0][:128]
        status = map_sendgrid_event(name)
        moved = advance(
            session,
            comm,
            status,
            source="webhook",
            reason=_reason(name, event),
            error_code=_event_error(event) if name in ("bounce", "dropped") else None,
            provider_event_id=provider_event_id,
        )
        outcome = "applied"
        if moved:
            record_audit(
                session,
                actor=None,
                action=AuditAction.EMAIL_STATUS_CHANGED,
                client_id=comm.client_id,
                ip=origin.ip,
                details={"communication_id": comm.id, "status": status, "event": name[:32]},
            )
    if name in SENDGRID_SUPPRESSING_EVENTS and address:
        suppress(
            session,
            address,
            reason=SENDGRID_SUPPRESSING_EVENTS[name],
            source="email_event",
            client_id=comm.client_id if comm is not None else None,
            origin=origin,
            cause=name,
        )
    return outcome


@router.post("/events", response_model=None)
def events(
    request: Request, body: BodyDep, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    public_key = settings.sendgrid_connection().webhook_public_key
    problem = signature_problem(
        public_key,
        body,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
    )
    if problem is not None:
        return _reject(session, origin, problem, 403)
    try:
        batch = json.loads(body)
    except ValueError:
        return _reject(session, origin, "the body is not JSON", 400)
    if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
        return _reject(session, origin, "the body is not a list of events", 400)
    counts: dict[str, int] = {}
    lock_audit_chain(session)  # before any message row: the worker may be recording these sends
    for event in batch:
        outcome = apply_event(session, event, origin)
        counts[outcome] = counts.get(outcome, 0) + 1
    log.info("email.events", **counts)
    return Response(status_code=204)
