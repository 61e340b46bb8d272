"""Twilio's status callbacks, kept at once and applied in batches.

The callback's route verifies it and stores what applying needs as a `StatusIntake` row (the
message's SID, Twilio's status, the error code, our id if it came with one, the caller's address
for the audit row: never a phone number or a body), commits, and answers. No lock is taken and no
message row is touched while Twilio waits, so a callback costs one insert.

`drain` applies the waiting rows in the order they came, a batch per transaction: one lookup of
the events already seen and one of the messages by SID, the statuses moved by the same code as
every provider's events (`apply_status_events`), one group of audit rows, and the rows deleted in
the same transaction. A row whose message is not known yet (the callback came before the worker
recorded the send's SID, and carried no id of ours) waits and is tried again, with a growing
pause, for INTAKE_LIFETIME; then it is given up with a log line naming the SID only.
The worker runs `drain` in a loop of its own (comms/sms/tasks.py), so a status reaches its
message well within a second of the callback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import RequestOrigin
from proirp.comms.core.events import apply_status_events
from proirp.comms.models import StatusIntake
from proirp.comms.sms.inbound import UNSUBSCRIBED_RECIPIENT, stopped_at_twilio
from proirp.comms.sms.status import StatusCallback, callback_event
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)

PROVIDER = "twilio"
BATCH = 500
INTAKE_LIFETIME = timedelta(minutes=15)
MAX_RETRY_PAUSE = timedelta(seconds=60)
# Our message ids (kit.db.new_id) have 32 characters: a longer `ref` names none of ours.
MAX_REFERENCE = 32
MAX_IP = 64


def keep_callback(
    session: Session, callback: StatusCallback, reference: str | None, origin: RequestOrigin
) -> None:
    """Store a verified callback that names a message, to be applied by `drain`."""
    now = utcnow()
    session.add(
        StatusIntake(
            provider=PROVIDER,
            provider_message_id=callback.message_sid,
            provider_status=callback.message_status or callback.sms_status or "",
            error_code=callback.error_code,
            reference=reference if reference and len(reference) <= MAX_REFERENCE else None,
            ip=origin.ip if origin.ip and len(origin.ip) <= MAX_IP else None,
            received_at=now,
            due_at=now,
            attempts=0,
        )
    )


def _as_callback(row: StatusIntake) -> StatusCallback:
    return StatusCallback(
        MessageSid=row.provider_message_id,
        MessageStatus=row.provider_status,
        ErrorCode=row.error_code,
    )


def drain_batch(session: Session, now: datetime | None = None, limit: int = BATCH) -> int:
    """Apply up to `limit` due rows in one transaction; returns how many were taken."""
    now = now or utcnow()
    due = select(StatusIntake.id).where(StatusIntake.due_at <= now).limit(1)
    if session.scalar(due) is None:
        return 0  # an idle round costs one read of the index, and never the writers' turn
    lock_shared_writes(session)  # one drain at a time, and the rows read after the last one's
    rows = list(
        session.scalars(
            select(StatusIntake)
            .where(StatusIntake.due_at <= now)
            .order_by(StatusIntake.id)
            .limit(limit)
        )
    )
    if not rows:
        return 0
    pairs = []
    kept: list[StatusIntake] = []
    for row in rows:
        event = callback_event(_as_callback(row), row.reference)
        if event is not None:
            pairs.append((event, RequestOrigin(ip=row.ip, user_agent=None)))
            kept.append(row)
    results = apply_status_events(session, pairs)
    stopped_at_twilio(
        session,
        [
            applied.communication.to_address
            for (event, _), applied in zip(pairs, results, strict=True)
            if applied.communication is not None and event.error_code == UNSUBSCRIBED_RECIPIENT
        ],
    )
    done = [row.id for row in rows if row not in kept]
    for row, applied in zip(kept, results, strict=True):
        if applied.outcome != "unmatched":
            done.append(row.id)
        elif now - row.received_at >= INTAKE_LIFETIME:
            log.warning(
                "comms.status_intake_given_up",
                provider=row.provider,
                provider_message_id=row.provider_message_id,
                attempts=row.attempts + 1,
            )
            done.append(row.id)
        else:
            row.attempts += 1
            row.due_at = now + min(timedelta(seconds=2**row.attempts), MAX_RETRY_PAUSE)
    if done:
        session.execute(delete(StatusIntake).where(StatusIntake.id.in_(done)))
    return len(rows)


def drain(factory: sessionmaker[Session], *, limit: int = BATCH) -> int:
    """Apply every due row, a batch per transaction; returns how many rows were taken."""
    total = 0
    while True:
        with transaction(factory) as session:
            taken = drain_batch(session, limit=limit)
        total += taken
        if taken < limit:
            return total


def backlog(session: Session) -> int:
    """Rows waiting to be applied (for /metrics)."""
    return int(session.scalar(select(func.count()).select_from(StatusIntake)) or 0)
