"""Status bookkeeping: every change is an event; statuses only move forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.comms.models import Communication, CommunicationEvent, CommunicationStatus
from proirp.kit.time import utcnow

S = CommunicationStatus
RANK: dict[str, int] = {
    S.QUEUED: 0,
    S.SENDING: 1,
    S.UNKNOWN: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.BLOCKED: 3,
}
FINAL = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.BLOCKED})

# Twilio's message statuses mapped to ours; anything new maps to "unknown" rather than failing.
TWILIO_STATUS: dict[str, str] = {
    "accepted": S.SENDING,
    "scheduled": S.SENDING,
    "queued": S.SENDING,
    "sending": S.SENDING,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


# SendGrid's Event Webhook events mapped to ours. `processed` is SendGrid taking the message into
# its queue; `deferred` is a retry at the receiving server. Opens, clicks, spam reports and
# unsubscribes all mean the message arrived. Anything new maps to "unknown", which is recorded in
# the history but never moves a message back.
SENDGRID_EVENT: dict[str, str] = {
    "processed": S.SENT,
    "deferred": S.SENT,
    "delivered": S.DELIVERED,
    "open": S.DELIVERED,
    "click": S.DELIVERED,
    "spamreport": S.DELIVERED,
    "unsubscribe": S.DELIVERED,
    "group_unsubscribe": S.DELIVERED,
    "group_resubscribe": S.DELIVERED,
    "bounce": S.UNDELIVERED,
    "blocked": S.UNDELIVERED,
    "dropped": S.FAILED,
}
# Events after which the address must not be mailed again (the email suppression list).
SENDGRID_SUPPRESSING_EVENTS: dict[str, str] = {
    "bounce": "The address bounced.",
    "dropped": "SendGrid dropped mail to the address (invalid, bounced or unsubscribed before).",
    "spamreport": "The recipient reported our email as spam.",
    "unsubscribe": "The recipient unsubscribed.",
    "group_unsubscribe": "The recipient unsubscribed.",
}


def map_twilio_status(value: str) -> str:
    return TWILIO_STATUS.get(value.lower(), S.UNKNOWN)


def map_sendgrid_event(value: str) -> str:
    return SENDGRID_EVENT.get(value.lower(), S.UNKNOWN)


def add_event(
    session: Session,
    comm: Communication,
    status: str,
    *,
    source: str,
    reason: str | None = None,
    error_code: str | None = None,
    provider_event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> CommunicationEvent:
    now = utcnow()
    event = CommunicationEvent(
        communication_id=comm.id,
        status=status,
        source=source,
        reason=reason,
        error_code=error_code,
        provider_event_id=provider_event_id,
        occurred_at=occurred_at or now,
        created_at=now,
    )
    session.add(event)
    return event


def seen_provider_event(session: Session, provider_event_id: str) -> bool:
    stmt = select(CommunicationEvent.id).where(
        CommunicationEvent.provider_event_id == provider_event_id
    )
    return session.scalar(stmt) is not None


def advance(
    session: Session,
    comm: Communication,
    status: str,
    *,
    source: str,
    reason: str | None = None,
    error_code: str | None = None,
    provider_event_id: str | None = None,
) -> bool:
    """Record `status` in the history and move the communication to it if that is forward.

    Returns whether the communication's status changed. A late `sent` after `delivered` is kept
    as history but does not move the status back.
    """
    add_event(
        session,
        comm,
        status,
        source=source,
        reason=reason,
        error_code=error_code,
        provider_event_id=provider_event_id,
    )
    current = comm.status
    if current in FINAL or RANK.get(status, 0) <= RANK.get(current, 0):
        return False
    now = utcnow()
    comm.status = status
    comm.updated_at = now
    if status in (S.SENT, S.DELIVERED) and comm.sent_at is None:
        comm.sent_at = now
    if status == S.DELIVERED:
        comm.delivered_at = now
    if reason is not None or status in FINAL:
        comm.status_reason = reason
    if error_code is not None:
        comm.error_code = error_code
    return True
