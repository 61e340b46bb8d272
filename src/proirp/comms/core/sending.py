"""What every send shares, whatever the channel: who sends, the client, the row written
`queued` or `blocked`, and the audit rows for what staff and the worker did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.models import Client
from proirp.clients.repository import get_client
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.status import add_event
from proirp.comms.models import Communication, CommunicationStatus
from proirp.kit.errors import AppError, ValidationFailed
from proirp.kit.time import utcnow

S = CommunicationStatus


@dataclass(frozen=True)
class Sender:
    """Who is sending, and from where (for the audit trail). `system`: the product sends on
    `user_id`'s behalf (an appointment reminder), so its audit rows name no actor."""

    user_id: str | None
    origin: RequestOrigin = field(default_factory=RequestOrigin)
    system: bool = False


class MessageBlocked(AppError):
    """The message was recorded as `blocked`; the caller commits that and shows this 422."""

    status_code = 422
    code = "message_blocked"

    def __init__(self, communication: Communication, reason: BlockReason) -> None:
        super().__init__(reason.message, fields={reason.field: reason.message})
        self.communication = communication
        self.reason = reason


def delay_until(send_at: datetime | None) -> float | None:
    """Seconds from now until `send_at`, for a job queued to run then (None: run at once)."""
    if send_at is None:
        return None
    return max(0.0, (send_at - utcnow()).total_seconds())


def scheduled_details(send_at: datetime | None) -> dict[str, str]:
    """What an audit row says of a scheduled send: when it is to go (nothing if at once)."""
    return {"send_at": send_at.isoformat()} if send_at is not None else {}


def require_client(session: Session, client_id: str) -> Client:
    client = get_client(session, client_id)
    if client is None:
        raise ValidationFailed("no client with that id", fields={"client_id": "no such client"})
    return client


def audit_message(
    session: Session, sender: Sender, action: AuditAction, comm: Communication, **details: Any
) -> None:
    """An audit row for what a member of staff did with a message."""
    record_audit(
        session,
        actor=None if sender.system else sender.user_id,
        action=action,
        client_id=comm.client_id,
        ip=sender.origin.ip,
        user_agent=sender.origin.user_agent,
        details={"communication_id": comm.id, **details},
    )


def audit_worker(
    session: Session, comm: Communication, action: AuditAction, **details: object
) -> None:
    """An audit row for what the worker did to a message (no user acted)."""
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=comm.client_id,
        details={"communication_id": comm.id, **details},
    )


def write_message(
    session: Session, comm: Communication, block: BlockReason | None, *, source: str = "api"
) -> None:
    """Add the row, `queued` with its first event, or `blocked` with the guard's reason."""
    session.add(comm)
    if block is None:
        comm.status = S.QUEUED
        add_event(session, comm, S.QUEUED, source=source)
        return
    comm.status = S.BLOCKED
    comm.status_reason = block.message
    add_event(session, comm, S.BLOCKED, source=source, reason=block.message)


def record_single_send(
    session: Session,
    sender: Sender,
    comm: Communication,
    block: BlockReason | None,
    *,
    queued_action: AuditAction,
    blocked_action: AuditAction,
    **details: Any,
) -> Communication:
    """Audit one message a person sent; a blocked one raises MessageBlocked for the caller to
    commit and show (the row and its audit entry are the record of the refusal)."""
    session.flush()
    if block is not None:
        audit_message(session, sender, blocked_action, comm)
        raise MessageBlocked(comm, block)
    audit_message(session, sender, queued_action, comm, **details)
    return comm
