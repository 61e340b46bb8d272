"""Reminder jobs: `reminders.plan` (every minute, and queued with appointment ids when staff
change one) and `reminders.send_due` (every minute). Importing this also registers the C/R
reply handler."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from huey import crontab

import proirp.appointments.replies  # noqa: F401  (registers the reply handler with comms)
from proirp.appointments.planner import plan_reminders
from proirp.appointments.sender import BATCH, send_due
from proirp.kit.db import transaction
from proirp.worker.jobs import JobContext, periodic_job

log = structlog.get_logger(__name__)


@periodic_job(crontab(), name="reminders.plan")
def plan(ctx: JobContext, appointment_ids: Sequence[str] | None = None) -> None:
    """Plan every upcoming appointment's reminders, or those of `appointment_ids`."""
    with transaction(ctx.session_factory) as session:
        counts = plan_reminders(session, settings=ctx.settings, appointment_ids=appointment_ids)
    if counts.changed:
        log.info(
            "reminders.planned",
            added=counts.added,
            replanned=counts.replanned,
            cancelled=counts.cancelled,
        )


@periodic_job(crontab(), name="reminders.send_due")
def send_due_reminders(ctx: JobContext) -> None:
    """Send what is due, a batch per transaction, until nothing due is left, or until a batch
    queued nothing (what is left waits for the next minute's run, never claimed over and over
    in this one)."""
    while True:
        with transaction(ctx.session_factory) as session:
            counts = send_due(session, ctx.settings)
        if counts.claimed or counts.expired:
            log.info("reminders.sent", expired=counts.expired, **dict(counts.outcomes))
        if counts.claimed < BATCH or not counts.outcomes["queued"]:
            return
