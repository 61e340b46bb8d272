"""API views of communications and campaigns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from proirp.comms.core import repository
from proirp.comms.core.status import FINAL
from proirp.comms.models import Campaign, Communication
from proirp.comms.schemas import CampaignOut, CommEventOut, CommOut


def communication_view(comm: Communication) -> dict[str, Any]:
    return CommOut(
        id=comm.id,
        client_id=comm.client_id,
        user_id=comm.user_id,
        campaign_id=comm.campaign_id,
        direction=comm.direction,
        purpose=comm.purpose,
        type=comm.channel,
        to=comm.to_address,
        **{"from": comm.from_address},
        status=comm.status,
        status_reason=comm.status_reason,
        provider=comm.provider,
        provider_message_id=comm.provider_message_id,
        error_code=comm.error_code,
        segments=comm.segments,
        created_at=comm.created_at,
        send_at=comm.send_at,
        sent_at=comm.sent_at,
        delivered_at=comm.delivered_at,
    ).model_dump(mode="json", by_alias=True)


def campaign_views(session: Session, campaigns: Sequence[Campaign]) -> list[dict[str, Any]]:
    """Views of a page of campaigns, their counts read in one query."""
    counts = repository.campaigns_counts(session, [c.id for c in campaigns])
    return [campaign_view(session, c, counts=counts.get(c.id, {})) for c in campaigns]


def communication_with_events(session: Session, comm: Communication) -> dict[str, Any]:
    view = communication_view(comm)
    view["events"] = [
        CommEventOut.model_validate(event).model_dump(mode="json")
        for event in repository.events(session, comm.id)
    ]
    return view


def campaign_view(
    session: Session, campaign: Campaign, *, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """A campaign with its messages counted by status (`counts` when the caller has them)."""
    if counts is None:
        counts = repository.campaign_counts(session, campaign.id)
    finished = sum(count for status, count in counts.items() if status in FINAL)
    # "sent" is as far as a message goes without a delivery receipt, so it counts as progress.
    progressed = finished + counts.get("sent", 0)
    total = max(campaign.total, sum(counts.values()))
    progress = 100 if campaign.fanned_out_at and total == 0 else 0
    if total:
        progress = min(100, (100 * progressed) // total)
    # Finished: fanned out, and none of its messages is still waiting to leave.
    waiting = sum(counts.get(status, 0) for status in ("queued", "sending"))
    status = "finished" if campaign.fanned_out_at and not waiting else campaign.status
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        type=campaign.channel,
        status=status,
        total=total,
        counts=counts,
        progress=progress,
        send_at=campaign.send_at,
        created_at=campaign.created_at,
    ).model_dump(mode="json")
