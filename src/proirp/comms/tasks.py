"""Huey tasks for sending: deliver a message, reconcile one, expand a campaign; the sweeper."""

from __future__ import annotations

import threading
from datetime import timedelta

import structlog
from huey import crontab

from proirp import runtime
from proirp.comms import dispatch, fan_out, repository
from proirp.comms.pacing import SendPacer
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.periodic import periodic_job
from proirp.worker.queue import huey

log = structlog.get_logger(__name__)
SWEEP_BATCH = 1000

_pacer: SendPacer | None = None
_pacer_lock = threading.Lock()


def _shared_pacer() -> SendPacer:
    global _pacer
    with _pacer_lock:
        if _pacer is None:
            _pacer = SendPacer(runtime.current().settings)
        return _pacer


@huey.task(name="comms.deliver_sms")
def deliver_sms(comm_id: str) -> None:
    rt = runtime.current()
    outcome = dispatch.deliver_sms(rt.session_factory, rt.settings, _shared_pacer(), comm_id)
    if outcome.retry_in is not None:
        deliver_sms.schedule((comm_id,), delay=outcome.retry_in)
    if outcome.reconcile_in is not None:
        reconcile_communication.schedule((comm_id,), delay=outcome.reconcile_in)


@huey.task(name="comms.reconcile")
def reconcile_communication(comm_id: str) -> None:
    rt = runtime.current()
    if dispatch.reconcile(rt.session_factory, rt.settings, comm_id):
        deliver_sms(comm_id)


@huey.task(name="comms.fan_out_campaign")
def fan_out_campaign(campaign_id: str) -> None:
    rt = runtime.current()
    fan_out.fan_out(rt.session_factory, rt.settings, campaign_id)


def sweep() -> tuple[int, int]:
    """Re-enqueue overdue queued rows and reconcile stale sending ones (lost jobs, crashes)."""
    rt = runtime.current()
    cutoff = utcnow() - timedelta(seconds=rt.settings.reconcile_after_seconds)
    with transaction(rt.session_factory) as session:
        overdue = repository.overdue_queued(session, due_before=cutoff, limit=SWEEP_BATCH)
        stale = repository.stale_sending(session, claimed_before=cutoff, limit=SWEEP_BATCH)
        campaigns = repository.unfinished_campaigns(session, idle_since=cutoff, limit=SWEEP_BATCH)
    for campaign_id in campaigns:
        fan_out_campaign(campaign_id)
    for comm_id in overdue:
        deliver_sms(comm_id)
    for comm_id in stale:
        reconcile_communication(comm_id)
    if overdue or stale:
        log.info("comms.swept", requeued=len(overdue), reconciling=len(stale))
    return len(overdue), len(stale)


@periodic_job(crontab(minute="*"), name="comms.sweep")
def sweep_every_minute() -> None:
    sweep()
