"""Calendar sync in the worker: one at a time per integration (a Huey lock), every few minutes
for every active integration, and at once after a connection."""

from __future__ import annotations

import structlog
from huey import crontab
from huey.exceptions import TaskLockedException
from sqlalchemy import select

from proirp import runtime
from proirp.calendars import sync
from proirp.calendars.models import CalendarIntegration
from proirp.calendars.tokens import NeedsReauth
from proirp.integrations.base import ProviderError
from proirp.kit.db import transaction
from proirp.worker.periodic import periodic_job
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)


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
