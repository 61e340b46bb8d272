"""What a verified push notification does: ask for one incremental sync of its calendar,
coalesced across every API process and worker through the database.

The first notification of a burst sets `sync_requested_at` (an UPDATE guarded by "not already
requested", atomic on SQLite and PostgreSQL alike) and queues `calendars.push_sync` after a short
debounce (CALENDAR_PUSH_DEBOUNCE_SECONDS); the rest of the burst find it set and queue nothing,
but move `last_notified_at`. The job waits while notifications keep coming (the calendar has
been quiet for less than the debounce), at most MAX_WAIT after the first, then clears the
request and syncs: a notification that arrives during the sync queues one more. A request whose
job was lost (a worker killed) is taken as stale after STALE_REQUEST.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from proirp.calendars.models import CalendarPushChannel
from proirp.config import Settings
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.after_commit import enqueue_after_commit

STALE_REQUEST = timedelta(minutes=2)
MAX_WAIT = timedelta(seconds=10)  # the longest a burst holds its sync back
PUSH_SYNC_JOB = "calendars.push_sync"


def request_sync(session: Session, settings: Settings, row: CalendarPushChannel) -> bool:
    """Note a change for the row's calendar; queue its sync if none is waiting. True if this
    call queued it."""
    now = utcnow()
    session.execute(
        update(CalendarPushChannel)
        .where(CalendarPushChannel.id == row.id)
        .values(last_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(CalendarPushChannel)
        .where(
            CalendarPushChannel.id == row.id,
            or_(
                CalendarPushChannel.sync_requested_at.is_(None),
                CalendarPushChannel.sync_requested_at < now - STALE_REQUEST,
            ),
        )
        .values(sync_requested_at=now, last_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    queued = bool(getattr(result, "rowcount", 0) == 1)
    if queued:
        enqueue_after_commit(
            session,
            PUSH_SYNC_JOB,
            row.integration_id,
            delay=settings.calendar_push_debounce_seconds or None,
        )
    return queued


def newer_message(session: Session, row: CalendarPushChannel, number: int) -> bool:
    """Record Google's X-Goog-Message-Number; False for one not newer than the last seen (a
    replay, or a retry that arrived late): nothing more is done for it."""
    result = session.execute(
        update(CalendarPushChannel)
        .where(
            CalendarPushChannel.id == row.id,
            CalendarPushChannel.last_message_number < number,
        )
        .values(last_message_number=number)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def still_busy(
    factory: sessionmaker[Session], settings: Settings, integration_id: str
) -> float | None:
    """Seconds the sync should wait for a burst to end (notifications still coming, and the
    first less than MAX_WAIT ago); None when it should run now."""
    quiet = timedelta(seconds=settings.calendar_push_debounce_seconds)
    with transaction(factory) as session:
        row = session.query(CalendarPushChannel).filter_by(integration_id=integration_id).first()
        if row is None or row.sync_requested_at is None or row.last_notified_at is None:
            return None
        now = utcnow()
        if now - row.sync_requested_at >= MAX_WAIT or now - row.last_notified_at >= quiet:
            return None
        return max((row.last_notified_at + quiet - now).total_seconds(), 0.1)


def take_request(factory: sessionmaker[Session], integration_id: str) -> bool:
    """Clear the calendar's sync request, before its sync lists the changes; False if there
    was none (another job took it)."""
    with transaction(factory) as session:
        result = session.execute(
            update(CalendarPushChannel)
            .where(
                CalendarPushChannel.integration_id == integration_id,
                CalendarPushChannel.sync_requested_at.is_not(None),
            )
            .values(sync_requested_at=None)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def request_again(factory: sessionmaker[Session], settings: Settings, integration_id: str) -> None:
    """The sync could not run now (another is running): ask again, after the debounce."""
    with transaction(factory) as session:
        row = session.query(CalendarPushChannel).filter_by(integration_id=integration_id).first()
        if row is not None:
            request_sync(session, settings, row)
