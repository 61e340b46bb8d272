"""A campaign's message to a client who cannot get it at all (no address, an invalid one)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from proirp.comms.core.status import add_event
from proirp.comms.models import Campaign, Communication, CommunicationStatus
from proirp.kit.db import new_id

PROVIDERS = {"sms": "twilio", "email": "sendgrid"}


def blocked_without_address(
    session: Session, campaign: Campaign, client_id: str, reason: str
) -> Communication:
    """A `blocked` row with the reason, so the campaign's record shows who was left out and why."""
    comm = Communication(
        id=new_id(),
        client_id=client_id,
        user_id=campaign.created_by_user_id,
        campaign_id=campaign.id,
        channel=campaign.channel,
        to_address="",
        body=campaign.body or "",
        provider=PROVIDERS[campaign.channel],
        status=CommunicationStatus.BLOCKED,
        status_reason=reason,
    )
    session.add(comm)
    add_event(session, comm, CommunicationStatus.BLOCKED, source="worker", reason=reason)
    return comm
