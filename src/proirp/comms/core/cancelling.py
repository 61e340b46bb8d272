"""Cancelling a message staff queued: only while it is still `queued` (scheduled, or not yet
claimed by a worker); once claimed it may already be at the provider, and cannot be called back.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.access import can_reach
from proirp.comms.core import repository
from proirp.comms.core.sending import Sender, audit_message
from proirp.comms.core.status import add_event
from proirp.comms.models import Communication, CommunicationStatus
from proirp.kit.db import lock_shared_writes
from proirp.kit.errors import Conflict, NotFound
from proirp.kit.time import utcnow

S = CommunicationStatus
CANCELLED_REASON = "Cancelled by staff before it was sent."


class NotCancellable(Conflict):
    """The message or campaign has gone too far to be cancelled."""

    code = "not_cancellable"


def cancel_message(session: Session, comm_id: str, sender: Sender) -> Communication:
    """`queued → cancelled`, with its event and a COMMUNICATION_CANCELLED audit row; NotFound,
    or NotCancellable once a worker has claimed it (or it has ended)."""
    lock_shared_writes(session)  # before the row: the order every writer of both takes them in
    found = repository.get(session, comm_id)
    if found is None or not can_reach(
        session, sender.user_id, found.client_id, origin=sender.origin
    ):
        raise NotFound("no communication with that id", code="communication_not_found")
    cancelled = repository.cancel_queued(session, comm_id, now=utcnow(), reason=CANCELLED_REASON)
    comm = session.get(Communication, comm_id, populate_existing=True)
    assert comm is not None
    if not cancelled:
        raise NotCancellable(
            f"the message is {comm.status}: only a message still queued can be cancelled"
        )
    add_event(session, comm, S.CANCELLED, source="api", reason=CANCELLED_REASON)
    audit_message(
        session,
        sender,
        AuditAction.COMMUNICATION_CANCELLED,
        comm,
        channel=comm.channel,
        scheduled=comm.send_at is not None,
    )
    return comm
