"""What a campaign would do, recipient by recipient, before it is started: who would get it, who
would be left out, and why. Nothing is written and nothing is sent.

The same checks as starting it, and for each recipient the channel's own decision as its fan-out
makes it (`ChunkWriter.preview`). The guard runs again as the campaign fans out and as each
message goes: a client may opt out, or consent, in between.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.clients.models import Client
from proirp.comms.campaigns.chunk import NotSent
from proirp.comms.campaigns.fan_out import CHANNELS, recipient_ids
from proirp.comms.campaigns.service import check_email_campaign, require_clients
from proirp.comms.models import Campaign, CommunicationStatus
from proirp.comms.sms.service import check_sms_body
from proirp.config import Settings
from proirp.kit.db import in_batches


@dataclass(frozen=True)
class RecipientOutcome:
    client_id: str
    status: str  # queued: it would go; blocked or failed, with the reason
    reason: str | None = None


@dataclass(frozen=True)
class CampaignPreview:
    recipients: list[RecipientOutcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.recipients))

    @property
    def left_out(self) -> list[RecipientOutcome]:
        """The recipients who would get no message, in the campaign's order."""
        return [r for r in self.recipients if r.status != CommunicationStatus.QUEUED]


def preview_campaign(
    session: Session,
    *,
    channel: str,
    selection: Mapping[str, Any],
    body: str,
    settings: Settings,
    subject: str | None = None,
    html: str | None = None,
    template_id: str | None = None,
) -> CampaignPreview:
    """Each recipient's outcome if the campaign fanned out now. Refuses (ValidationFailed) what
    starting it would refuse."""
    if channel == "email":
        template_id = check_email_campaign(
            session,
            subject=subject,
            text=body,
            html=html,
            template_id=template_id,
            settings=settings,
        )
    else:
        check_sms_body(body)
    if "client_ids" in selection:
        require_clients(session, selection["client_ids"])
    # Never added to the session: the writers read what the campaign says, nothing is saved.
    draft = Campaign(
        channel=channel, body=body, subject=subject, html=html, template_id=template_id
    )
    writer_class = CHANNELS[channel]
    outcomes: list[RecipientOutcome] = []
    for chunk in in_batches(recipient_ids(session, selection)):
        stmt = select(Client).where(Client.id.in_(chunk), Client.deleted_at.is_(None))
        clients = {c.id: c for c in session.scalars(stmt)}
        writer = writer_class(session, draft, list(clients.values()), settings)
        for client_id in chunk:
            client = clients.get(client_id)
            if client is None:  # archived: the fan-out skips them too
                continue
            why = writer.preview(client)
            if why is None:
                outcomes.append(RecipientOutcome(client_id, CommunicationStatus.QUEUED))
            elif isinstance(why, NotSent):
                outcomes.append(RecipientOutcome(client_id, why.status, why.reason[:300]))
            else:
                outcomes.append(
                    RecipientOutcome(client_id, CommunicationStatus.BLOCKED, why.message)
                )
    return CampaignPreview(outcomes)
