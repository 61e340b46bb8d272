"""Status bookkeeping: every change is an event; statuses only move forward."""

from __future__ import annotations

from collections.abc import Iterable
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
    S.CANCELLED: 3,
}
# RECEIVED: an inbound message's status; no provider callback moves it.
FINAL = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.BLOCKED, S.CANCELLED, S.RECEIVED})
# Statuses a message reaches only from these (others move forward from wherever they are).
ONLY_FROM: dict[str, frozenset[str]] = {S.CANCELLED: frozenset({S.QUEUED})}


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


def seen_provider_events(session: Session, provider_event_ids: Iterable[str]) -> set[str]:
    """Those of `provider_event_ids` already in a message's history (each event is applied once)."""
    wanted = set(provider_event_ids)
    if not wanted:
        return set()
    stmt = select(CommunicationEvent.provider_event_id).where(
        CommunicationEvent.provider_event_id.in_(wanted)
    )
    return {value for value in session.scalars(stmt) if value}


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
    if status in ONLY_FROM and current not in ONLY_FROM[status]:
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
