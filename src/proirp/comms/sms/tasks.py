"""SMS jobs: deliver one message, settle one whose send got no answer, and ask Twilio for the
status of one whose delivery callback never came; and the loop that applies the status callbacks
kept by the API (comms/sms/intake.py)."""

from __future__ import annotations

from proirp.comms.core.dispatch import deliver
from proirp.comms.core.pacing import shared_pacer
from proirp.comms.core.providers import sms_sender
from proirp.comms.sms.dispatch import SmsChannel, reconcile
from proirp.comms.sms.follow_up import follow_up
from proirp.comms.sms.intake import drain
from proirp.worker.jobs import JobContext, enqueue, job
from proirp.worker.loops import loop


@job("comms.deliver_sms")
def deliver_sms(ctx: JobContext, comm_id: str) -> None:
    channel = SmsChannel(sms_sender(ctx.settings), ctx.settings)
    pacer = shared_pacer(ctx.settings, "sms")
    outcome = deliver(ctx.session_factory, ctx.settings, pacer, channel, [comm_id])
    for _ids, delay in outcome.retries:
        enqueue("comms.deliver_sms", comm_id, delay=delay)
    if outcome.reconcile:
        enqueue("comms.reconcile", comm_id, delay=outcome.reconcile_in)


@job("comms.reconcile")
def reconcile_sms(ctx: JobContext, comm_id: str) -> None:
    if reconcile(ctx.session_factory, sms_sender(ctx.settings), comm_id):
        enqueue("comms.deliver_sms", comm_id)


@job("comms.check_sms_status")
def check_sms_status(ctx: JobContext, comm_id: str) -> None:
    follow_up(ctx.session_factory, sms_sender(ctx.settings), comm_id)


@loop("comms.apply_status_intake")
def apply_status_intake(ctx: JobContext) -> int:
    return drain(ctx.session_factory)
