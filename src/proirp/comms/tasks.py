"""Huey tasks for sending: deliver a message, reconcile one, expand a campaign; the sweeper."""

from __future__ import annotations

import threading
from datetime import timedelta

import structlog
from huey import crontab

from proirp import runtime
from proirp.comms.campaigns import fan_out
from proirp.comms.core import repository
from proirp.comms.core.dispatch import deliver
from proirp.comms.core.pacing import SendPacer, email_pacer, sms_pacer
from proirp.comms.core.providers import email_sender, sms_sender
from proirp.comms.email import dispatch as email_dispatch
from proirp.comms.sms import dispatch
from proirp.integrations.sendgrid.adapter import MAX_PERSONALIZATIONS
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
            _pacer = sms_pacer(runtime.current().settings)
        return _pacer


@huey.task(name="comms.deliver_sms")
def deliver_sms(comm_id: str) -> None:
    rt = runtime.current()
    channel = dispatch.SmsChannel(sms_sender(rt.settings), rt.settings)
    outcome = deliver(rt.session_factory, rt.settings, _shared_pacer(), channel, [comm_id])
    for _ids, delay in outcome.retries:
        deliver_sms.schedule((comm_id,), delay=delay)
    if outcome.reconcile:
        reconcile_communication.schedule((comm_id,), delay=outcome.reconcile_in)


@huey.task(name="comms.reconcile")
def reconcile_communication(comm_id: str) -> None:
    rt = runtime.current()
    if dispatch.reconcile(rt.session_factory, sms_sender(rt.settings), comm_id):
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
    with transaction(rt.session_factory) as session:
        routes = repository.channels_of(session, [*overdue, *stale])
    emails: dict[str | None, list[str]] = {}
    for comm_id in overdue:
        channel, in_campaign = routes.get(comm_id, ("sms", None))
        if channel == "email":
            emails.setdefault(in_campaign, []).append(comm_id)
        else:
            deliver_sms(comm_id)
    for in_campaign, ids in emails.items():
        # A campaign's rows share one call per 1,000; single emails go one by one anyway.
        size = MAX_PERSONALIZATIONS if in_campaign else 1
        for start in range(0, len(ids), size):
            deliver_email_batch(ids[start : start + size])
    for comm_id in stale:
        if routes.get(comm_id, ("sms", None))[0] == "email":
            reconcile_email(comm_id)
        else:
            reconcile_communication(comm_id)
    if overdue or stale:
        log.info("comms.swept", requeued=len(overdue), reconciling=len(stale))
    return len(overdue), len(stale)


@periodic_job(crontab(minute="*"), name="comms.sweep")
def sweep_every_minute() -> None:
    sweep()


_email_pacer: SendPacer | None = None


def _shared_email_pacer() -> SendPacer:
    global _email_pacer
    with _pacer_lock:
        if _email_pacer is None:
            _email_pacer = email_pacer(runtime.current().settings)
        return _email_pacer


@huey.task(name="comms.deliver_email_batch")
def deliver_email_batch(comm_ids: list[str]) -> None:
    rt = runtime.current()
    channel = email_dispatch.EmailChannel(email_sender(rt.settings), rt.settings)
    outcome = deliver(rt.session_factory, rt.settings, _shared_email_pacer(), channel, comm_ids)
    for ids, delay in outcome.retries:
        deliver_email_batch.schedule((ids,), delay=delay)
    for comm_id in outcome.reconcile:
        reconcile_email.schedule((comm_id, True), delay=outcome.reconcile_in)


@huey.task(name="comms.reconcile_email")
def reconcile_email(comm_id: str, call_finished: bool = False) -> None:
    rt = runtime.current()
    email_dispatch.reconcile_email(
        rt.session_factory, rt.settings, comm_id, call_finished=call_finished
    )
