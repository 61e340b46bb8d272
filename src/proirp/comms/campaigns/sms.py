"""An SMS campaign's recipients: each client's number checked, one `queued` or `blocked` row
each, with the opt-out list read once per chunk."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.models import Channel, Client
from proirp.clients.repository import opted_out_addresses
from proirp.comms.campaigns.chunk import (
    ChunkWriter,
    MessageRow,
    NotSent,
    guarded_status,
    message_row,
)
from proirp.comms.core.guard import BlockReason
from proirp.comms.models import Campaign
from proirp.comms.sms.recipients import NumberProblem, client_region, sms_number
from proirp.comms.sms.service import check_sms_body, sms_block
from proirp.config import Settings
from proirp.kit.crypto import seal
from proirp.worker.after_commit import enqueue_after_commit

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
        self.sealed_body = seal(self.body)  # every row's text alike: encrypted once a chunk
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

    def write(self, client: Client) -> MessageRow | NotSent:
        number = self._number(client)
        if isinstance(number, NotSent):
            return number
        block = sms_block(
            self.session, client, number, self.body, self.settings, opted_out=self.opted_out
        )
        return message_row(
            self.campaign,
            client.id,
            to=number,
            **guarded_status(block),
            body=self.sealed_body,
            segments=self.segments,
        )

    def finish(self, queued: list[str]) -> None:
        """Each queued row has its own job (paced per sending number), sent after commit."""
        for comm_id in queued:
            enqueue_after_commit(self.session, "comms.deliver_sms", comm_id)
