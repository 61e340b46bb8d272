"""A campaign's message to a client who cannot get it at all (no address, an invalid one, a
template that does not render for them): a row with the reason, so the campaign's record shows
who was left out and why."""

from __future__ import annotations

from proirp.comms.campaigns.chunk import MessageRow, NotSent, message_row
from proirp.comms.models import Campaign


def not_sent(campaign: Campaign, client_id: str, why: NotSent) -> MessageRow:
    """A `blocked` or `failed` row with the reason."""
    return message_row(
        campaign,
        client_id,
        to=why.to,
        status=why.status,
        reason=why.reason,
        body=campaign.body or "",
    )
