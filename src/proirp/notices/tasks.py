"""`notices.send` (every minute): find what staff should be told of the product itself, and
tell them, each notice once."""

from __future__ import annotations

from huey import crontab

from proirp.notices.calendars import note_calendars
from proirp.notices.campaigns import note_campaigns
from proirp.notices.webhooks import alert_admins
from proirp.worker.jobs import JobContext, periodic_job


@periodic_job(crontab(), name="notices.send")
def send_notices(ctx: JobContext) -> None:
    """Calendars to connect again, campaigns finished with problems, webhooks refused in
    numbers: each a separate pass, each notice in its own transaction."""
    note_calendars(ctx.session_factory, ctx.settings)
    note_campaigns(ctx.session_factory, ctx.settings)
    alert_admins(ctx.session_factory, ctx.settings)
