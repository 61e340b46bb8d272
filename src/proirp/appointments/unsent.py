"""A reminder handed to comms but not yet sent (its message still `queued`: a worker down, a
provider slow) whose appointment no longer wants it (cancelled, gone, unlinked, reminders off,
client opted out): its message is cancelled, as staff would cancel it, so nobody is reminded of
an appointment that is off. A message a worker has claimed is past calling back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import not_, select
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder, ReminderStatus
from proirp.appointments.repository import Appointment, wants_reminders
from proirp.audit.actions import AuditAction
from proirp.clients.models import Client
from proirp.comms.core import repository as comms
from proirp.comms.core.sending import Sender, audit_message
from proirp.comms.core.status import add_event
from proirp.comms.models import Communication, CommunicationStatus
from proirp.kit.db import lock_shared_writes

REASON = "The appointment no longer wants this reminder (cancelled, moved off, or turned off)."


def cancel_unsent(session: Session, now: datetime) -> int:
    """Cancel the still-queued messages of reminders whose appointment no longer wants them;
    returns how many. Each is audited (COMMUNICATION_CANCELLED, the system as actor)."""
    stmt = (
        select(Communication.id)
        .join(Reminder, Reminder.communication_id == Communication.id)
        .join(Appointment, Appointment.id == Reminder.appointment_id)
        .join(Client, Client.id == Appointment.client_id)
        .where(
            Reminder.status == ReminderStatus.QUEUED,
            Communication.status == CommunicationStatus.QUEUED,
            not_(wants_reminders()),
        )
    )
    ids = list(session.scalars(stmt))
    if not ids:
        return 0
    lock_shared_writes(session)  # before the message rows, as every writer of both takes them
    cancelled = 0
    for comm_id in ids:
        if not comms.cancel_queued(session, comm_id, now=now, reason=REASON):
            continue  # a worker claimed it first
        comm = session.get(Communication, comm_id, populate_existing=True)
        assert comm is not None
        add_event(session, comm, CommunicationStatus.CANCELLED, source="worker", reason=REASON)
        sender = Sender(comm.user_id, system=True)
        audit_message(
            session, sender, AuditAction.COMMUNICATION_CANCELLED, comm, channel=comm.channel
        )
        cancelled += 1
    return cancelled
