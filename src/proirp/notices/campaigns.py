"""A campaign that finished with messages that did not arrive (failed, undelivered, blocked):
its sender is told once, with the counts by status. "Finished" is what the API shows: fanned
out, and none of its messages still queued or sending."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from proirp.comms.core.repository import campaign_counts
from proirp.comms.models import Campaign
from proirp.config import Settings
from proirp.config.pages import CAMPAIGNS_PAGE
from proirp.kit.db import transaction
from proirp.kit.time import utcnow
from proirp.notices import repository
from proirp.notices.models import NoticeKind
from proirp.notices.repository import PROBLEMS, WAITING
from proirp.notices.sending import local_time, send_each, send_notice

KIND = NoticeKind.CAMPAIGN_PROBLEMS
# Campaigns fanned out longer ago are not looked at: their messages settled long since, and a
# first run after an upgrade does not tell senders about last year's campaigns.
LOOK_BACK = timedelta(days=7)
CHANNEL_NAMES = {"sms": "SMS", "email": "email"}


def note_text(campaign: Campaign, counts: dict[str, int], settings: Settings) -> tuple[str, str]:
    """The subject and text: the counts by status (no name: staff may have put one in it)."""
    missed = sum(counts.get(status, 0) for status in PROBLEMS)
    total = sum(counts.values())
    channel = CHANNEL_NAMES.get(campaign.channel, campaign.channel)
    started = local_time(campaign.fanned_out_at or campaign.created_at, settings)
    plural = "s" if missed != 1 else ""
    subject = f"Your {channel} campaign finished: {missed} message{plural} did not arrive"
    problems = "\n".join(
        f"  {status}: {counts[status]}" for status in PROBLEMS if counts.get(status)
    )
    every = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    text = (
        f"Your {channel} campaign sent on {started} has finished. {missed} of its {total} "
        f"messages did not reach their recipients:\n\n{problems}\n\n"
        f"All its messages by status: {every}.\n\n"
        "Failed and undelivered messages were refused on their way (by the carrier, the mail "
        "server or the provider); blocked ones were never sent (for example: no consent, an "
        "opt-out, a suppressed address).\n\n"
        f"See the campaign:\n{settings.base_url}{CAMPAIGNS_PAGE}/{campaign.id}"
    )
    return subject, text


def note_campaigns(factory: sessionmaker[Session], settings: Settings) -> int:
    """Tell the sender of each campaign newly finished with problems; how many were told."""
    with transaction(factory) as session:
        finished = repository.finished_campaigns_with_problems(
            session, fanned_out_since=utcnow() - LOOK_BACK
        )

    def send(session: Session, campaign_id: str) -> bool:
        found = repository.campaign_sender(session, campaign_id)
        if found is None:
            return False  # its sender's account is closed: nobody to tell
        campaign, sender = found
        counts = campaign_counts(session, campaign_id)
        if any(counts.get(status) for status in WAITING):
            return False  # a message was sent again meanwhile (not finished after all)
        subject, text = note_text(campaign, counts, settings)
        return send_notice(
            session,
            KIND,
            campaign_id,
            to=sender.email,
            subject=subject,
            text=text,
            user_id=sender.id,
            campaign_id=campaign_id,
            counts={status: counts.get(status, 0) for status in PROBLEMS},
        )

    return send_each(factory, KIND, finished, send)
