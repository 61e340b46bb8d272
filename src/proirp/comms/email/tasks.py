"""Email jobs: deliver a batch (one message, or a campaign's chunk), and settle rows whose
call got no answer."""

from __future__ import annotations

from proirp.comms.core.dispatch import deliver
from proirp.comms.core.pacing import shared_pacer
from proirp.comms.core.providers import email_sender
from proirp.comms.email.dispatch import EmailChannel, reconcile_email
from proirp.worker.jobs import JobContext, enqueue, job


@job("comms.deliver_email_batch")
def deliver_email_batch(ctx: JobContext, comm_ids: list[str]) -> None:
    channel = EmailChannel(email_sender(ctx.settings), ctx.settings)
    pacer = shared_pacer(ctx.settings, "email")
    outcome = deliver(ctx.session_factory, ctx.settings, pacer, channel, comm_ids)
    for ids, delay in outcome.retries:
        enqueue("comms.deliver_email_batch", ids, delay=delay)
    for comm_id in outcome.reconcile:
        enqueue("comms.reconcile_email", comm_id, True, delay=outcome.reconcile_in)


@job("comms.reconcile_email")
def settle_email(ctx: JobContext, comm_id: str, call_finished: bool = False) -> None:
    reconcile_email(ctx.session_factory, ctx.settings, comm_id, call_finished=call_finished)
