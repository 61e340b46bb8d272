"""The sweeper: what a crash or a lost job left behind is found and sent on its way again.

Queued rows whose job never ran are re-queued; email left `sending` whose call never began (its
worker stopped between claim and call) is queued again; other rows left `sending` are reconciled
by their channel; campaigns whose fan-out stopped part-way are resumed; and SMS whose delivery
callback never came are looked up at Twilio (comms/sms/follow_up.py). It runs every minute and
when a worker starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from huey import crontab

from proirp.comms.core import leftovers, repository
from proirp.comms.core.status import add_events
from proirp.comms.models import CommunicationStatus
from proirp.comms.sms.follow_up import ASK_AFTER, ASK_LEASE, STOP_ASKING_AFTER
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, enqueue, periodic_job

log = structlog.get_logger(__name__)
SWEEP_BATCH = 1000
NEVER_CALLED = "Its worker stopped before calling SendGrid: it was not sent, and goes again."


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
            lambda after: leftovers.overdue_queued(
                session, due_before=cutoff, limit=SWEEP_BATCH, after=after
            )
        )
        stale = _batches(
            lambda after: leftovers.stale_sending(
                session, claimed_before=cutoff, limit=SWEEP_BATCH, after=after
            )
        )
        campaigns = leftovers.unfinished_campaigns(session, idle_since=cutoff, limit=SWEEP_BATCH)
    with transaction(ctx.session_factory) as session:
        lock_shared_writes(session)  # before message rows, as every writer of them takes it
        now = utcnow()
        unconfirmed = leftovers.awaiting_final_status(
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
    released = 0
    for batch in stale:
        back = _release_unstarted(ctx, batch, claimed_before=cutoff)
        released += len(back)
        _reconcile(ctx, [comm_id for comm_id in batch if comm_id not in back])
    for comm_id in unconfirmed:
        enqueue("comms.check_sms_status", comm_id)
    requeued, reconciling = sum(map(len, overdue)), sum(map(len, stale)) - released
    if requeued or reconciling or released or unconfirmed:
        log.info(
            "comms.swept",
            requeued=requeued,
            reconciling=reconciling,
            never_called=released,
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
    _send_emails(emails)


def _send_emails(emails: dict[str | None, list[str]]) -> None:
    """A job for each call's worth of queued email, by campaign."""
    for in_campaign, ids in emails.items():
        # A campaign's rows share one call per 1,000; single emails go one by one anyway.
        size = MAX_PERSONALIZATIONS if in_campaign else 1
        for start in range(0, len(ids), size):
            enqueue("comms.deliver_email_batch", ids[start : start + size])


def _release_unstarted(ctx: JobContext, stale: list[str], *, claimed_before: datetime) -> set[str]:
    """Email among `stale` whose call never began goes back to `queued` and is sent by the
    normal path, its attempt given back: SendGrid cannot have it (decision 0003). The ids."""
    with transaction(ctx.session_factory) as session:
        lock_shared_writes(session)  # before the rows: a worker may be starting their call
        back = leftovers.release_unstarted_email(
            session, stale, claimed_before=claimed_before, now=utcnow()
        )
        add_events(
            session, list(back), CommunicationStatus.QUEUED, source="reconcile", reason=NEVER_CALLED
        )
    emails: dict[str | None, list[str]] = {}
    for comm_id, in_campaign in back.items():
        emails.setdefault(in_campaign, []).append(comm_id)
    _send_emails(emails)
    return set(back)


def _reconcile(ctx: JobContext, stale: list[str]) -> None:
    """A reconciliation for each row left `sending`, by its channel."""
    with transaction(ctx.session_factory) as session:
        routes = repository.channels_of(session, stale)
    for comm_id in stale:
        if routes.get(comm_id, ("sms", None))[0] == "email":
            enqueue("comms.reconcile_email", comm_id)
        else:
            enqueue("comms.reconcile", comm_id)
