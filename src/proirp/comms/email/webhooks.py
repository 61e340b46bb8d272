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
from collections.abc import Sequence
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from proirp.audit.service import AuditEntry, RequestOrigin, record_audits
from proirp.comms.core import repository
from proirp.comms.core.events import Applied, StatusEvent, apply_status_events
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


def apply_events(
    session: Session, events: Sequence[SendGridEvent], origin: RequestOrigin
) -> list[str]:
    """Apply a batch's events in order; what happened to each (for counting, never logged with
    its content). A fixed number of lookups whatever the batch's size: the events already seen,
    the messages our ids in the custom args name; the status changes' audit rows as one group."""
    ours = [status_event(event) for event in events]
    references = list({e.reference for e in ours if e.reference})
    # Held here while the batch is applied: the session keeps them (it holds rows it did not
    # change only while something else does), and each event finds its message without a query.
    messages = repository.get_many(session, references, content=False) if references else []
    audits: list[AuditEntry] = []
    applied = apply_status_events(session, [(e, origin) for e in ours], audits)
    del messages
    outcomes = [
        _follow_up(session, event, status, done, origin)
        for event, status, done in zip(events, ours, applied, strict=True)
    ]
    record_audits(session, audits)
    return outcomes


def _follow_up(
    session: Session,
    event: SendGridEvent,
    ours: StatusEvent,
    applied: Applied,
    origin: RequestOrigin,
) -> str:
    """What an applied event does besides the status: a bounce, drop, spam report or
    unsubscribe suppresses the address; a resubscribe lifts its group's unsubscribe."""
    if applied.outcome == "unmatched":
        log.info(
            "comms.status_unmatched",
            provider=ours.provider,
            provider_message_id=ours.provider_message_id,
        )
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
    for outcome in apply_events(session, batch.events, origin):
        counts[outcome] = counts.get(outcome, 0) + 1
    log.info("email.events", **counts)
    return Response(status_code=204)
