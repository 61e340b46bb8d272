"""Campaign jobs: expand a campaign into its messages."""

from __future__ import annotations

from proirp.comms.campaigns.fan_out import fan_out
from proirp.worker.jobs import JobContext, job


@job("comms.fan_out_campaign")
def fan_out_campaign(ctx: JobContext, campaign_id: str) -> None:
    fan_out(ctx.session_factory, ctx.settings, campaign_id)
