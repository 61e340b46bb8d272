"""One normalized provider status event, and the one function that applies it.

Each vendor's webhook turns its own payload into a `StatusEvent` (Twilio's status callback,
SendGrid's Event Webhook); `apply_status_event` does the rest the same way for all of them:
each event once, matched to our message without crossing wires, the status moved only forward,
and an audit row when it moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import AuditEntry, RequestOrigin, record_audits
from proirp.comms.core import repository
from proirp.comms.core.guard import suppression_key
from proirp.comms.core.status import advance, seen_provider_events
from proirp.comms.models import Communication
from proirp.kit.db import lock_shared_writes

log = structlog.get_logger(__name__)

STATUS_CHANGED_ACTION = {
    "sms": AuditAction.SMS_STATUS_CHANGED,
    "email": AuditAction.EMAIL_STATUS_CHANGED,
}


@dataclass(frozen=True)
class StatusEvent:
    """What a provider reported about one message, in our terms."""

    provider: str  # as our rows name it: "twilio", "sendgrid"
    status: str  # ours; anything we do not know maps to `unknown` and never moves a message back
    event_id: str | None  # unique across providers: each event is applied once
    provider_message_id: str | None = None
    # True when the provider's id names one message (Twilio's SID); SendGrid's names a batch.
    message_id_is_unique: bool = False
    reference: str | None = None  # our communication id, carried by the provider
    address: str | None = None  # the recipient the provider reports, checked against ours
    reason: str | None = None
    error_code: str | None = None
    audit_details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    outcome: Literal["duplicate", "unmatched", "applied"]
    communication: Communication | None = None


def _same_message(comm: Communication, event: StatusEvent) -> bool:
    """Does our row really describe the message the event is about?"""
    if comm.provider != event.provider:
        return False
    if event.message_id_is_unique and comm.provider_message_id not in (
        None,
        event.provider_message_id,
    ):
        return False
    if event.address is not None:
        return suppression_key(comm.to_address) == suppression_key(event.address)
    return True


def find_message(session: Session, event: StatusEvent) -> Communication | None:
    """Our message for `event`: by the provider's own id where it names one message, else by our
    reference, and never one whose provider id or address says it is another message."""
    if event.message_id_is_unique and event.provider_message_id:
        comm = repository.by_provider_id(session, event.provider, event.provider_message_id)
        if comm is not None:
            return comm
    if event.reference:
        comm = repository.get(session, event.reference)
        if comm is not None and _same_message(comm, event):
            return comm
    return None


def apply_status_event(
    session: Session,
    event: StatusEvent,
    origin: RequestOrigin,
    audits: list[AuditEntry] | None = None,
) -> Applied:
    """Record `event` against its message (once) and move the message forward if it may. The
    audit row of a move is written at once, or added to `audits` for a caller applying a batch
    to append with the batch's others (record_audits)."""
    [applied] = apply_status_events(session, [(event, origin)], audits)
    if applied.outcome == "unmatched":
        log.info(
            "comms.status_unmatched",
            provider=event.provider,
            provider_message_id=event.provider_message_id,
        )
    return applied


def apply_status_events(
    session: Session,
    events: Sequence[tuple[StatusEvent, RequestOrigin]],
    audits: list[AuditEntry] | None = None,
) -> list[Applied]:
    """`apply_status_event` for many events in their order, with one lookup of the events
    already seen and one of the messages by the provider's id. The audit rows of the moves are
    appended as one group, or added to `audits` for the caller to append."""
    # The writers' turn before the messages' rows, as the worker takes them: an event applied
    # while the worker records the send waits its turn instead of deadlocking with it.
    lock_shared_writes(session)
    seen = seen_provider_events(session, [e.event_id for e, _ in events if e.event_id])
    by_id = _by_provider_ids(session, [e for e, _ in events])
    entries: list[AuditEntry] = []
    results = [_apply_one(session, event, origin, seen, by_id, entries) for event, origin in events]
    if audits is None:
        record_audits(session, entries)
    else:
        audits.extend(entries)
    return results


def _by_provider_ids(
    session: Session, events: Sequence[StatusEvent]
) -> dict[tuple[str, str], Communication]:
    wanted: dict[str, set[str]] = {}
    for event in events:
        if event.message_id_is_unique and event.provider_message_id:
            wanted.setdefault(event.provider, set()).add(event.provider_message_id)
    found: dict[tuple[str, str], Communication] = {}
    for provider, ids in wanted.items():
        for comm in repository.by_provider_ids(session, provider, ids):
            found[(provider, comm.provider_message_id or "")] = comm
    return found


def _apply_one(
    session: Session,
    event: StatusEvent,
    origin: RequestOrigin,
    seen: set[str],
    by_id: dict[tuple[str, str], Communication],
    audits: list[AuditEntry],
) -> Applied:
    if event.event_id and event.event_id in seen:
        return Applied("duplicate")
    comm = None
    if event.message_id_is_unique and event.provider_message_id:
        comm = by_id.get((event.provider, event.provider_message_id))
    if comm is None:
        comm = find_message(session, event)
    if comm is None:
        return Applied("unmatched")
    if comm.provider_message_id is None and event.provider_message_id:
        # The answer to our send was lost; the event tells us the provider has the message.
        comm.provider_message_id = event.provider_message_id
        by_id[(event.provider, event.provider_message_id)] = comm
    if event.event_id:
        seen.add(event.event_id)
    moved = advance(
        session,
        comm,
        event.status,
        source="webhook",
        reason=event.reason,
        error_code=event.error_code,
        provider_event_id=event.event_id,
    )
    if moved:
        audits.append(
            AuditEntry(
                actor=None,
                action=STATUS_CHANGED_ACTION[comm.channel],
                client_id=comm.client_id,
                ip=origin.ip,
                details={
                    "communication_id": comm.id,
                    "status": event.status,
                    **event.audit_details,
                },
            )
        )
    return Applied("applied", comm)
