"""Calendar sync in the worker: one at a time per integration (a Huey lock), every few minutes
for every active integration, at once after a connection, and again when a throttled provider's
Retry-After has passed."""

from __future__ import annotations

import structlog
from huey import crontab
from huey.exceptions import TaskLockedException
from sqlalchemy import select

from proirp import runtime
from proirp.calendars import sync
from proirp.calendars.models import CalendarIntegration
from proirp.calendars.tokens import NeedsReauth
from proirp.integrations.base import ProviderError, ProviderTemporaryError
from proirp.kit.db import transaction
from proirp.worker.periodic import periodic_job
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)
MAX_RETRY_AFTER_SECONDS = 3600.0


@huey.task(name="calendars.sync")
def sync_calendar(integration_id: str) -> None:
    rt = runtime.current()
    try:
        with huey.lock_task(f"calendar-sync-{integration_id}"):
            sync.sync_integration(rt.session_factory, rt.settings, integration_id)
    except TaskLockedException:
        log.info("calendar.sync_already_running", integration_id=integration_id)
    except NeedsReauth:
        log.info("calendar.sync_needs_reauth", integration_id=integration_id)
    except ProviderTemporaryError as exc:
        log.warning("calendar.sync_failed", integration_id=integration_id, error_code=exc.code)
        if exc.retry_after:
            # The provider said when: sync again then, not only at the next periodic run.
            delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            sync_calendar.schedule((integration_id,), delay=delay)
    except ProviderError as exc:
        log.warning("calendar.sync_failed", integration_id=integration_id, error_code=exc.code)


@periodic_job(crontab(minute="*/5"), name="calendars.sync_all")
def sync_all() -> None:
    rt = runtime.current()
    with transaction(rt.session_factory) as session:
        ids = list(
            session.scalars(
                select(CalendarIntegration.id).where(CalendarIntegration.status == "active")
            )
        )
    for integration_id in ids:
        sync_calendar(integration_id)
