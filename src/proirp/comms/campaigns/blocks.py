"""A campaign's message to a client who cannot get it at all (no address, an invalid one, a
template that does not render for them): a row with the reason, so the campaign's record shows
who was left out and why."""

from __future__ import annotations

from sqlalchemy.orm import Session

from proirp.comms.campaigns.chunk import NotSent
from proirp.comms.core.status import add_event
from proirp.comms.models import Campaign, Communication
from proirp.kit.db import new_id

PROVIDERS = {"sms": "twilio", "email": "sendgrid"}


def not_sent(session: Session, campaign: Campaign, client_id: str, why: NotSent) -> Communication:
    """A `blocked` or `failed` row with the reason, and its one event."""
    reason = why.reason[:300]
    comm = Communication(
        id=new_id(),
        client_id=client_id,
        user_id=campaign.created_by_user_id,
        campaign_id=campaign.id,
        channel=campaign.channel,
        to_address=why.to,
        body=campaign.body or "",
        provider=PROVIDERS[campaign.channel],
        status=why.status,
        status_reason=reason,
    )
    session.add(comm)
    add_event(session, comm, why.status, source="worker", reason=reason)
    return comm
