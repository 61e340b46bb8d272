"""Inbox jobs: `inbox.fetch_media` (queued when an MMS arrives), `inbox.realert` (every minute:
the urgent alerts that are due) and `inbox.sweep_media` (every five minutes: media whose fetch
was lost)."""

from __future__ import annotations

import structlog
from huey import crontab

from proirp.comms.core.providers import sms_sender
from proirp.comms.inbox.incidents import realert_due
from proirp.comms.inbox.media import fetch_media, stalled
from proirp.comms.inbox.practice import inbox_practice
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.worker.jobs import JobContext, enqueue, job, periodic_job

log = structlog.get_logger(__name__)


@job("inbox.fetch_media")
def fetch_message_media(ctx: JobContext, communication_id: str) -> None:
    outcome = fetch_media(ctx.session_factory, sms_sender(ctx.settings), communication_id)
    if outcome.retry_in is not None:
        enqueue("inbox.fetch_media", communication_id, delay=outcome.retry_in)


@periodic_job(crontab(), name="inbox.realert")
def realert(ctx: JobContext) -> None:
    with transaction(ctx.session_factory) as session:
        sent = realert_due(session, inbox_practice(session, ctx.settings), ctx.settings)
    if sent:
        log.info("inbox.urgent_realerted", alerts=sent)


@periodic_job(crontab(minute="*/5"), name="inbox.sweep_media")
def sweep_media(ctx: JobContext) -> None:
    with transaction(ctx.session_factory) as session:
        ids = stalled(session, now=utcnow())
    for communication_id in ids:
        enqueue("inbox.fetch_media", communication_id)
    if ids:
        log.info("inbox.media_requeued", messages=len(ids))
