"""Calendar sync in the worker: one at a time per integration (a Huey lock), every few minutes
for every active integration not backing off after failures, at once after a connection, and
again when a throttled provider's Retry-After has passed."""

from __future__ import annotations

import structlog
from huey import crontab
from huey.exceptions import TaskLockedException

from proirp.calendars import sync
from proirp.calendars.sync_status import due_for_sync
from proirp.calendars.tokens import NeedsReauth
from proirp.integrations.base import ProviderError, ProviderTemporaryError
from proirp.kit.db import transaction
from proirp.worker.jobs import JobContext, enqueue, job, job_lock, periodic_job

log = structlog.get_logger(__name__)
MAX_RETRY_AFTER_SECONDS = 3600.0


@job("calendars.sync")
def sync_calendar(ctx: JobContext, integration_id: str) -> None:
    try:
        with job_lock(f"calendar-sync-{integration_id}"):
            sync.sync_integration(ctx.session_factory, ctx.settings, integration_id)
    except TaskLockedException:
        log.info("calendar.sync_already_running", integration_id=integration_id)
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


@periodic_job(crontab(minute="*/5"), name="calendars.sync_all")
def sync_all(ctx: JobContext) -> None:
    """Every active calendar, except those backing off after failures."""
    with transaction(ctx.session_factory) as session:
        ids = due_for_sync(session)
    for integration_id in ids:
        enqueue("calendars.sync", integration_id)
