"""Status bookkeeping: every change is an event; statuses only move forward."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.orm import Session

from proirp.comms.models import Communication, CommunicationEvent, CommunicationStatus
from proirp.kit.db import insert_rows, new_id
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


def add_events(
    session: Session,
    comm_ids: Sequence[str],
    status: str,
    *,
    source: str,
    reason: str | None = None,
    error_code: str | None = None,
) -> None:
    """The same event for each of `comm_ids` (a provider call's messages)."""
    record_events(
        session,
        [(comm_id, status, reason) for comm_id in comm_ids],
        source=source,
        error_code=error_code,
    )


def record_events(
    session: Session,
    events: Sequence[tuple[str, str, str | None]],
    *,
    source: str,
    error_code: str | None = None,
) -> None:
    """An event for each (communication id, status, reason), all in one statement (`insert_rows`):
    no ORM object per message, which a campaign's thousands of events would otherwise cost."""
    if not events:
        return
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "communication_id": comm_id,
            "status": status,
            "source": source,
            "reason": reason,
            "error_code": error_code,
            "provider_event_id": None,
            "occurred_at": now,
            "created_at": now,
        }
        for comm_id, status, reason in events
    ]
    insert_rows(session, cast(Table, CommunicationEvent.__table__), rows)


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


def moves_to(status: str) -> list[str]:
    """The statuses from which `advance` moves a message to `status`."""
    allowed = ONLY_FROM.get(status)
    return [
        current
        for current, rank in RANK.items()
        if current not in FINAL
        and rank < RANK.get(status, 0)
        and (allowed is None or current in allowed)
    ]


def mark_sent(session: Session, comm_ids: Sequence[str], message_id: str) -> dict[str, str | None]:
    """`advance` to `sent` for the messages a provider call carried, in one UPDATE whatever
    their number: each keeps the call's message id unless it has one, and moves to `sent` if
    that is forward; an event each. Id → client id of every message found."""
    if not comm_ids:
        return {}
    now = utcnow()
    moves = Communication.status.in_(moves_to(S.SENT))
    stmt = (
        update(Communication)
        .where(Communication.id.in_(list(comm_ids)))
        .values(
            provider_message_id=func.coalesce(Communication.provider_message_id, message_id),
            status=case((moves, S.SENT), else_=Communication.status),
            sent_at=case(
                (moves, func.coalesce(Communication.sent_at, now)), else_=Communication.sent_at
            ),
            updated_at=case((moves, now), else_=Communication.updated_at),
        )
        .returning(Communication.id, Communication.client_id)
        .execution_options(synchronize_session=False)
    )
    clients = {row.id: row.client_id for row in session.execute(stmt)}
    add_events(
        session, [comm_id for comm_id in comm_ids if comm_id in clients], S.SENT, source="worker"
    )
    return clients
