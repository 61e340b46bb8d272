"""Urgent incidents: a conversation with urgent language in it, and the alerts about it.

The first urgent message of a conversation opens an incident: the client gets the safety reply
at once, and the on-call address gets an alert (that a message is waiting, never its text).
Until a member of staff opens the conversation the alert goes again every `realert_minutes`, up
to `realert_limit` alerts; more urgent messages meanwhile join the open incident. Everything is
audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.comms.email.staff import send_staff_email
from proirp.comms.inbox.models import UrgentIncident
from proirp.comms.inbox.practice import InboxPractice
from proirp.comms.inbox.replies import queue_reply
from proirp.comms.models import Communication, Direction, Purpose
from proirp.config import Settings
from proirp.config.pages import INBOX_PAGE
from proirp.kit.db import lock_shared_writes, new_id
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
BATCH = 100


def conversation_of(comm: Communication) -> str:
    """The conversation a message belongs to: its client's, or its number's when it has none
    (named by the number's keyed hash: the key is kept in the database, the number is not)."""
    if comm.client_id:
        return f"client:{comm.client_id}"
    number = comm.from_hash if comm.direction == Direction.INBOUND else comm.to_hash
    if number is None:
        raise ValueError("a message's conversation is known once the message is flushed")
    return f"number:{number}"


def report_urgent(
    session: Session, comm: Communication, practice: InboxPractice, settings: Settings
) -> UrgentIncident:
    """Open an incident for `comm`'s conversation, or add `comm` to the one already open."""
    now = utcnow()
    conversation = conversation_of(comm)
    make = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = UrgentIncident.__table__
    opened = session.execute(
        make(table)  # type: ignore[arg-type]
        .values(
            id=new_id(),
            conversation=conversation,
            communication_id=comm.id,
            client_id=comm.client_id,
            messages=1,
            last_message_at=comm.created_at,
            alerts_sent=0,
            next_alert_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["conversation"], index_where=table.c.acknowledged_at.is_(None)
        )
        .returning(table.c.id)
    ).scalar()
    if opened is None:
        incident = session.scalars(
            select(UrgentIncident).where(
                UrgentIncident.conversation == conversation,
                UrgentIncident.acknowledged_at.is_(None),
            )
        ).one()
        incident.messages += 1
        incident.last_message_at = comm.created_at
        _audit(session, AuditAction.URGENT_MESSAGE_RECEIVED, incident, comm.id, joined=True)
        return incident
    new = session.get(UrgentIncident, opened)
    assert new is not None
    incident = new
    _audit(session, AuditAction.URGENT_MESSAGE_RECEIVED, incident, comm.id, joined=False)
    queue_reply(session, comm, practice.safety_reply, Purpose.SAFETY_REPLY)
    send_alert(session, incident, practice, settings, now=now)
    return incident


def send_alert(
    session: Session,
    incident: UrgentIncident,
    practice: InboxPractice,
    settings: Settings,
    *,
    now: datetime,
) -> None:
    """Count one alert, set the next one's time, and email the on-call address (if any)."""
    incident.alerts_sent += 1
    more = incident.alerts_sent < practice.realert_limit
    incident.next_alert_at = now + timedelta(minutes=practice.realert_minutes) if more else None
    incident.updated_at = now
    if not practice.on_call_email:
        log.warning(
            "inbox.urgent_alert_unsent", incident_id=incident.id, reason="no on-call address"
        )
        _audit(
            session,
            AuditAction.URGENT_ALERT_NOT_SENT,
            incident,
            None,
            alert=incident.alerts_sent,
            reason="no on-call address is set (URGENT_ALERT_EMAIL or the inbox settings)",
        )
        return
    when = incident.created_at.strftime("%H:%M UTC")
    text = (
        f"A client's text message with urgent language arrived at {when} and no member of staff "
        "has opened the conversation yet. Please read it now in the inbox:\n"
        f"{settings.base_url}{INBOX_PAGE}\n\n"
        f"This is alert {incident.alerts_sent} of at most {practice.realert_limit}; they stop "
        "when someone opens the conversation. The message itself is never sent by email."
    )
    email = send_staff_email(
        session,
        to=practice.on_call_email,
        subject="Urgent: a client's message is waiting",
        text=text,
        purpose=Purpose.URGENT_ALERT,
        incident_id=incident.id,
    )
    _audit(
        session,
        AuditAction.URGENT_ALERT_SENT,
        incident,
        None,
        alert=incident.alerts_sent,
        email_communication_id=email.id,
    )


def realert_due(session: Session, practice: InboxPractice, settings: Settings) -> int:
    """Send the alerts that are due; each incident's alert is claimed with a conditional
    UPDATE, so two workers never send the same one. Returns how many were sent."""
    now = utcnow()
    lock_shared_writes(session)
    due = session.scalars(
        select(UrgentIncident)
        .where(UrgentIncident.acknowledged_at.is_(None), UrgentIncident.next_alert_at <= now)
        .order_by(UrgentIncident.next_alert_at)
        .limit(BATCH)
    ).all()
    sent = 0
    for incident in due:
        if incident.alerts_sent >= practice.realert_limit:
            incident.next_alert_at = None
            continue
        claimed = session.execute(
            update(UrgentIncident)
            .where(
                UrgentIncident.id == incident.id,
                UrgentIncident.alerts_sent == incident.alerts_sent,
                UrgentIncident.acknowledged_at.is_(None),
            )
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        send_alert(session, incident, practice, settings, now=now)
        sent += 1
    return sent


def has_open_incident(session: Session, *, conversation: str, client_id: str | None) -> bool:
    """Whether the conversation (or the client's, through any number) has an incident still
    alerting: only then has opening it anything to acknowledge."""
    mine = [UrgentIncident.conversation == conversation]
    if client_id:
        mine.append(UrgentIncident.client_id == client_id)
    found = session.scalar(
        select(UrgentIncident.id)
        .where(UrgentIncident.acknowledged_at.is_(None), or_(*mine))
        .limit(1)
    )
    return found is not None


def acknowledge(
    session: Session,
    *,
    conversation: str,
    client_id: str | None,
    up_to: datetime,
    user_id: str,
    origin: RequestOrigin,
) -> int:
    """A member of staff opened a conversation and saw it up to `up_to`: its open incidents
    whose urgent messages all arrived by then stop alerting (an incident of a number whose
    messages were since attached to the client counts as the client's). Returns how many."""
    lock_shared_writes(session)  # before the incidents' rows, as the webhook and realert take it
    mine = [UrgentIncident.conversation == conversation]
    if client_id:
        mine.append(UrgentIncident.client_id == client_id)
    incidents = session.scalars(
        select(UrgentIncident).where(
            UrgentIncident.acknowledged_at.is_(None),
            or_(*mine),
            UrgentIncident.last_message_at <= up_to,
        )
    ).all()
    now = utcnow()
    for incident in incidents:
        incident.acknowledged_at = now
        incident.acknowledged_by_user_id = user_id
        incident.next_alert_at = None
        record_audit(
            session,
            actor=user_id,
            action=AuditAction.URGENT_ACKNOWLEDGED,
            client_id=incident.client_id,
            ip=origin.ip,
            user_agent=origin.user_agent,
            details={"incident_id": incident.id, "alerts_sent": incident.alerts_sent},
        )
    return len(incidents)


def open_conversations(session: Session) -> set[str]:
    """The conversations with an open incident."""
    stmt = select(UrgentIncident.conversation).where(UrgentIncident.acknowledged_at.is_(None))
    return set(session.scalars(stmt))


def _audit(
    session: Session,
    action: AuditAction,
    incident: UrgentIncident,
    communication_id: str | None,
    **details: object,
) -> None:
    extra = {"communication_id": communication_id} if communication_id else {}
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=incident.client_id,
        details={"incident_id": incident.id, **extra, **details},
    )
