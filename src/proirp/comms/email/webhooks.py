"""POST /webhooks/sendgrid/events: SendGrid's signed Event Webhook.

Each batch is verified (ECDSA over timestamp + raw body, within 5 minutes) before anything is
read. Each event is applied once (its `sg_event_id`), finds its message through our id in the
custom args, and moves the status only forward; bounces (not blocks), drops, spam reports and
unsubscribes also put the address on the suppression list, and a resubscribe to an unsubscribe
group lifts what that group's unsubscribe put there. An event whose fields do not fit is skipped
(and audited), the rest of its batch applied (`payload.py`).
"""

from __future__ import annotations

import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from proirp.audit.service import AuditEntry, RequestOrigin, record_audits
from proirp.comms.core.events import apply_status_event
from proirp.comms.core.webhook_rejection import record_rejection, reject_webhook
from proirp.comms.email.events import status_event, suppression_for
from proirp.comms.email.payload import Batch, SendGridEvent, read_batch
from proirp.comms.email.suppression import resubscribe, suppress
from proirp.integrations.sendgrid.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_problem,
)
from proirp.kit.db import lock_shared_writes
from proirp.kit.deps import OriginDep, SessionDep, SettingsDep

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks/sendgrid", tags=["webhooks"], include_in_schema=False)


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


def apply_event(
    session: Session,
    event: SendGridEvent,
    origin: RequestOrigin,
    audits: list[AuditEntry] | None = None,
) -> str:
    """Apply one event; returns what happened (for counting, never logged with its content).
    Its status change's audit row goes into `audits` when given (the batch appends them)."""
    ours = status_event(event)
    applied = apply_status_event(session, ours, origin, audits)
    if applied.outcome == "duplicate" or not ours.address:
        return applied.outcome
    client_id = applied.communication.client_id if applied.communication is not None else None
    suppression = suppression_for(event)
    if suppression is not None:
        suppress(
            session,
            ours.address,
            reason=suppression.reason,
            source="email_event",
            client_id=client_id,
            origin=origin,
            cause=suppression.cause,
            group=suppression.group,
        )
    elif event.event == "group_resubscribe":
        resubscribe(
            session, ours.address, group=event.asm_group_id, client_id=client_id, origin=origin
        )
    return applied.outcome


def _skip_malformed(session: Session, batch: Batch, origin: RequestOrigin) -> None:
    if batch.malformed:
        record_rejection(
            session,
            origin,
            provider="sendgrid",
            hook="events",
            reason=f"{batch.malformed} malformed event{'s' if batch.malformed > 1 else ''} skipped",
            refusal="malformed",
            fields=sorted(batch.fields),
        )


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
        raw = json.loads(body)
    except (ValueError, RecursionError):  # nested too deep for the parser: not JSON either
        return _reject(session, origin, "the body is not JSON", 400)
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        return _reject(session, origin, "the body is not a list of events", 400)
    lock_shared_writes(session)  # before any message row: the worker may be recording these sends
    batch = read_batch(raw)
    _skip_malformed(session, batch, origin)  # the rest is applied; a retry would not mend them
    counts: dict[str, int] = {"malformed": batch.malformed} if batch.malformed else {}
    audits: list[AuditEntry] = []
    for event in batch.events:
        outcome = apply_event(session, event, origin, audits)
        counts[outcome] = counts.get(outcome, 0) + 1
    record_audits(session, audits)  # the batch's status changes, appended as one group
    log.info("email.events", **counts)
    return Response(status_code=204)
