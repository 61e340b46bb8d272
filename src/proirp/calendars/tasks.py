"""Calendar sync in the worker: one at a time per integration (a Huey lock); every 5 minutes for
every active calendar without healthy push and not backing off after failures, once a day for
one whose push is healthy; at once after a connection; after a push notification (coalesced:
calendars/push_intake.py); and again when a throttled provider's Retry-After has passed.
Push channels are set up after connecting and renewed before they expire (calendars/push.py)."""

from __future__ import annotations

import structlog
from huey import crontab
from huey.exceptions import TaskLockedException

from proirp.calendars import push, push_intake, sync
from proirp.calendars.sync_status import due_for_sync
from proirp.calendars.tokens import NeedsReauth
from proirp.integrations.base import ProviderError, ProviderTemporaryError
from proirp.kit.db import transaction
from proirp.worker.jobs import JobContext, enqueue, job, job_lock, periodic_job

log = structlog.get_logger(__name__)
MAX_RETRY_AFTER_SECONDS = 3600.0


def _sync(ctx: JobContext, integration_id: str) -> bool:
    """Sync the calendar unless another sync of it is running (False then)."""
    try:
        with job_lock(f"calendar-sync-{integration_id}"):
            sync.sync_integration(ctx.session_factory, ctx.settings, integration_id)
    except TaskLockedException:
        log.info("calendar.sync_already_running", integration_id=integration_id)
        return False
    except NeedsReauth:
        log.info("calendar.sync_needs_reauth", integration_id=integration_id)
    except ProviderTemporaryError as exc:
        log.warning("calendar.sync_failed", integration_id=integration_id, error_code=exc.code)
        if exc.retry_after:
            # The provider said when: sync again then, not only at the next periodic run.
            delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            enqueue("calendars.sync", integration_id, delay=delay)
    except ProviderError as exc:
        log.warning("calendar.sync_failed", integration_id=integration_id, error_code=exc.code)
    return True


@job("calendars.sync")
def sync_calendar(ctx: JobContext, integration_id: str) -> None:
    _sync(ctx, integration_id)


@job(push_intake.PUSH_SYNC_JOB)
def push_sync(ctx: JobContext, integration_id: str) -> None:
    """The sync a burst of notifications asked for: one, however many there were."""
    wait = push_intake.still_busy(ctx.session_factory, ctx.settings, integration_id)
    if wait is not None:
        enqueue(push_intake.PUSH_SYNC_JOB, integration_id, delay=wait)
        return
    if not push_intake.take_request(ctx.session_factory, integration_id):
        return  # another job took this request
    if not _sync(ctx, integration_id):
        # A sync already running may have listed before this change: ask again.
        push_intake.request_again(ctx.session_factory, ctx.settings, integration_id)


@job("calendars.push_start")
def push_start(ctx: JobContext, integration_id: str) -> None:
    push.start(ctx.session_factory, ctx.settings, integration_id)


@job("calendars.push_renew")
def push_renew(ctx: JobContext, integration_id: str) -> None:
    push.renew(ctx.session_factory, ctx.settings, integration_id)


@periodic_job(crontab(minute="*/5"), name="calendars.sync_all")
def sync_all(ctx: JobContext) -> None:
    """Every active calendar due a poll, except those backing off after failures."""
    with transaction(ctx.session_factory) as session:
        ids = due_for_sync(session)
    for integration_id in ids:
        enqueue("calendars.sync", integration_id)


@periodic_job(crontab(minute="*/10"), name="calendars.push_upkeep")
def push_upkeep(ctx: JobContext) -> None:
    """Set push up where it is missing (or failed an hour ago); renew channels near expiry."""
    with transaction(ctx.session_factory) as session:
        to_start, to_renew = push.due_for_upkeep(session)
    for integration_id in to_start:
        enqueue("calendars.push_start", integration_id)
    for integration_id in to_renew:
        enqueue("calendars.push_renew", integration_id)
