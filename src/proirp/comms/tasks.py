"""The sweeper: what a crash or a lost job left behind is found and sent on its way again.

Queued rows whose job never ran are re-queued, rows left `sending` are reconciled by their
channel, campaigns whose fan-out stopped part-way are resumed, and SMS whose delivery callback
never came are looked up at Twilio (comms/sms/follow_up.py). It runs every minute and when
a worker starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog
from huey import crontab

from proirp.comms.core import repository
from proirp.comms.sms.follow_up import ASK_AFTER, ASK_LEASE, STOP_ASKING_AFTER
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, enqueue, periodic_job

log = structlog.get_logger(__name__)
SWEEP_BATCH = 1000


def _batches(find: Callable[[str | None], Sequence[str]]) -> list[list[str]]:
    """Every batch a query finds, in order of id: a backlog (a Redis that lost its waiting jobs
    mid-campaign) can be many batches, and all of it is sent on its way in this round."""
    batches: list[list[str]] = []
    after: str | None = None
    while True:
        batch = list(find(after))
        if batch:
            batches.append(batch)
        if len(batch) < SWEEP_BATCH:
            return batches
        after = batch[-1]


@periodic_job(crontab(minute="*"), name="comms.sweep")
def sweep(ctx: JobContext) -> tuple[int, int]:
    """Re-enqueue overdue queued rows and reconcile stale sending ones (lost jobs, crashes)."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.reconcile_after_seconds)
    with transaction(ctx.session_factory) as session:
        overdue = _batches(
            lambda after: repository.overdue_queued(
                session, due_before=cutoff, limit=SWEEP_BATCH, after=after
            )
        )
        stale = _batches(
            lambda after: repository.stale_sending(
                session, claimed_before=cutoff, limit=SWEEP_BATCH, after=after
            )
        )
        campaigns = repository.unfinished_campaigns(session, idle_since=cutoff, limit=SWEEP_BATCH)
    with transaction(ctx.session_factory) as session:
        lock_shared_writes(session)  # before message rows, as every writer of them takes it
        now = utcnow()
        unconfirmed = repository.awaiting_final_status(
            session,
            now=now,
            quiet_since=now - ASK_AFTER,
            sent_since=now - STOP_ASKING_AFTER,
            lease_until=now + ASK_LEASE,
            limit=SWEEP_BATCH,
        )
    for campaign_id in campaigns:
        enqueue("comms.fan_out_campaign", campaign_id)
    for batch in overdue:
        _requeue(ctx, batch)
    for batch in stale:
        _reconcile(ctx, batch)
    for comm_id in unconfirmed:
        enqueue("comms.check_sms_status", comm_id)
    requeued, reconciling = sum(map(len, overdue)), sum(map(len, stale))
    if requeued or reconciling or unconfirmed:
        log.info(
            "comms.swept",
            requeued=requeued,
            reconciling=reconciling,
            asking_twilio=len(unconfirmed),
        )
    return requeued, reconciling


def _requeue(ctx: JobContext, overdue: list[str]) -> None:
    """A job again for each overdue queued row (an email campaign's rows, a call per 1,000)."""
    with transaction(ctx.session_factory) as session:
        routes = repository.channels_of(session, overdue)
    emails: dict[str | None, list[str]] = {}
    for comm_id in overdue:
        channel, in_campaign = routes.get(comm_id, ("sms", None))
        if channel == "email":
            emails.setdefault(in_campaign, []).append(comm_id)
        else:
            enqueue("comms.deliver_sms", comm_id)
    for in_campaign, ids in emails.items():
        # A campaign's rows share one call per 1,000; single emails go one by one anyway.
        size = MAX_PERSONALIZATIONS if in_campaign else 1
        for start in range(0, len(ids), size):
            enqueue("comms.deliver_email_batch", ids[start : start + size])


def _reconcile(ctx: JobContext, stale: list[str]) -> None:
    """A reconciliation for each row left `sending`, by its channel."""
    with transaction(ctx.session_factory) as session:
        routes = repository.channels_of(session, stale)
    for comm_id in stale:
        if routes.get(comm_id, ("sms", None))[0] == "email":
            enqueue("comms.reconcile_email", comm_id)
        else:
            enqueue("comms.reconcile", comm_id)
