"""Jobs for sending: deliver a message, reconcile one, expand a campaign; the sweeper."""

from __future__ import annotations

import threading
from datetime import timedelta

import structlog
from huey import crontab

from proirp.comms import dispatch, email_dispatch, fan_out, repository
from proirp.comms.pacing import SendPacer, email_pacer, sms_pacer
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, enqueue, job, periodic_job

log = structlog.get_logger(__name__)
SWEEP_BATCH = 1000

_pacer: SendPacer | None = None
_pacer_lock = threading.Lock()


def _shared_pacer(ctx: JobContext) -> SendPacer:
    global _pacer
    with _pacer_lock:
        if _pacer is None:
            _pacer = sms_pacer(ctx.settings)
        return _pacer


@job("comms.deliver_sms")
def deliver_sms(ctx: JobContext, comm_id: str) -> None:
    outcome = dispatch.deliver_sms(ctx.session_factory, ctx.settings, _shared_pacer(ctx), comm_id)
    if outcome.retry_in is not None:
        enqueue("comms.deliver_sms", comm_id, delay=outcome.retry_in)
    if outcome.reconcile_in is not None:
        enqueue("comms.reconcile", comm_id, delay=outcome.reconcile_in)


@job("comms.reconcile")
def reconcile_communication(ctx: JobContext, comm_id: str) -> None:
    if dispatch.reconcile(ctx.session_factory, ctx.settings, comm_id):
        enqueue("comms.deliver_sms", comm_id)


@job("comms.fan_out_campaign")
def fan_out_campaign(ctx: JobContext, campaign_id: str) -> None:
    fan_out.fan_out(ctx.session_factory, ctx.settings, campaign_id)


@periodic_job(crontab(minute="*"), name="comms.sweep")
def sweep(ctx: JobContext) -> tuple[int, int]:
    """Re-enqueue overdue queued rows and reconcile stale sending ones (lost jobs, crashes)."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.reconcile_after_seconds)
    with transaction(ctx.session_factory) as session:
        overdue = repository.overdue_queued(session, due_before=cutoff, limit=SWEEP_BATCH)
        stale = repository.stale_sending(session, claimed_before=cutoff, limit=SWEEP_BATCH)
        campaigns = repository.unfinished_campaigns(session, idle_since=cutoff, limit=SWEEP_BATCH)
    for campaign_id in campaigns:
        enqueue("comms.fan_out_campaign", campaign_id)
    with transaction(ctx.session_factory) as session:
        routes = repository.channels_of(session, [*overdue, *stale])
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
    for comm_id in stale:
        if routes.get(comm_id, ("sms", None))[0] == "email":
            enqueue("comms.reconcile_email", comm_id)
        else:
            enqueue("comms.reconcile", comm_id)
    if overdue or stale:
        log.info("comms.swept", requeued=len(overdue), reconciling=len(stale))
    return len(overdue), len(stale)


_email_pacer: SendPacer | None = None


def _shared_email_pacer(ctx: JobContext) -> SendPacer:
    global _email_pacer
    with _pacer_lock:
        if _email_pacer is None:
            _email_pacer = email_pacer(ctx.settings)
        return _email_pacer


@job("comms.deliver_email_batch")
def deliver_email_batch(ctx: JobContext, comm_ids: list[str]) -> None:
    outcome = email_dispatch.deliver_email_batch(
        ctx.session_factory, ctx.settings, _shared_email_pacer(ctx), comm_ids
    )
    for ids, delay in outcome.retries:
        enqueue("comms.deliver_email_batch", ids, delay=delay)
    for comm_id in outcome.reconcile:
        enqueue("comms.reconcile_email", comm_id, True, delay=outcome.reconcile_in)


@job("comms.reconcile_email")
def reconcile_email(ctx: JobContext, comm_id: str, call_finished: bool = False) -> None:
    email_dispatch.reconcile_email(
        ctx.session_factory, ctx.settings, comm_id, call_finished=call_finished
    )
