"""An SMS campaign's recipients: each client's number checked, one `queued` or `blocked` row
each, with the opt-out list read once per chunk."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.models import Channel, Client
from proirp.clients.repository import opted_out_addresses
from proirp.comms.campaigns.chunk import ChunkWriter, NotSent
from proirp.comms.core.guard import BlockReason
from proirp.comms.models import Campaign, Communication
from proirp.comms.sms.recipients import NumberProblem, client_region, sms_number
from proirp.comms.sms.service import check_sms_body, queue_sms_for_client, sms_block
from proirp.config import Settings

# Small chunks: each holds the database's write lock while it commits, and sends wait meanwhile.
CHUNK = 100
FIRST_CHUNK = 50


class SmsChunk(ChunkWriter):
    first_chunk = FIRST_CHUNK
    chunk_size = CHUNK
    blocked_action = AuditAction.SMS_BLOCKED
    failed_action = AuditAction.SMS_FAILED

    def __init__(
        self, session: Session, campaign: Campaign, clients: Sequence[Client], settings: Settings
    ) -> None:
        super().__init__(session, campaign, clients, settings)
        self.body = campaign.body or ""
        self.segments = check_sms_body(self.body)
        self.opted_out = opted_out_addresses(
            session, Channel.SMS, (c.phone for c in clients if c.phone)
        )

    def _number(self, client: Client) -> str | NotSent:
        if not client.phone:
            return NotSent("The client has no phone number.")
        region = client_region(client, self.settings.default_phone_region)
        try:
            return sms_number(client.phone, region=region)
        except NumberProblem as exc:
            return NotSent(f"The client's phone {exc}.")

    def preview(self, client: Client) -> NotSent | BlockReason | None:
        number = self._number(client)
        if isinstance(number, NotSent):
            return number
        return sms_block(
            self.session, client, number, self.body, self.settings, opted_out=self.opted_out
        )

    def write(self, client: Client) -> Communication | NotSent:
        number = self._number(client)
        if isinstance(number, NotSent):
            return number
        comm, _block = queue_sms_for_client(
            self.session,
            client=client,
            to=number,
            body=self.body,
            segments=self.segments,
            sender=self.sender,
            settings=self.settings,
            campaign_id=self.campaign.id,
            template_id=self.campaign.template_id,
            opted_out=self.opted_out,
        )
        return comm
