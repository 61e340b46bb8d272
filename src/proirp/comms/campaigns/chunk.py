"""What a channel's campaign hook is: a writer for one chunk of recipients, and the row values
it writes for each (the driver inserts a whole chunk's rows at once, with no ORM object each)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.models import Client
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.sending import Sender
from proirp.comms.models import Campaign, CommunicationStatus, Direction
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.time import utcnow

PROVIDERS = {"sms": "twilio", "email": "sendgrid"}
# A campaign message's row: the values of its `communications` columns.
MessageRow = dict[str, Any]


@dataclass(frozen=True)
class NotSent:
    """Why a client gets no message of the campaign: `blocked` when there is nothing to send it
    to (no address, an invalid one, a value the record lacks), `failed` when the message could
    not be made (the template would not render for them)."""

    reason: str
    status: CommunicationStatus = CommunicationStatus.BLOCKED
    to: str = ""  # the address it would have gone to, when the client has a valid one


def message_row(
    campaign: Campaign,
    client_id: str,
    *,
    to: str,
    status: str,
    reason: str | None = None,
    body: str,
    subject: str | None = None,
    body_html: str | None = None,
    substitutions: str | None = None,
    segments: int | None = None,
) -> MessageRow:
    """The row of a campaign's message to a client: every value it needs (no column default
    applies to a chunk's rows, inserted at once), the same keys for every row."""
    now = utcnow()
    return {
        "id": new_id(),
        "client_id": client_id,
        "user_id": campaign.created_by_user_id,
        "campaign_id": campaign.id,
        "template_id": campaign.template_id,
        "channel": campaign.channel,
        "to_address": to,
        "subject": subject,
        "body": body,
        "body_html": body_html,
        "substitutions": substitutions,
        "segments": segments,
        "provider": PROVIDERS[campaign.channel],
        "status": status,
        "status_reason": reason[:300] if reason is not None else None,
        "direction": Direction.OUTBOUND.value,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def guarded_status(block: BlockReason | None) -> dict[str, Any]:
    """`status` and `reason` for `message_row`: `queued`, or `blocked` with the guard's reason."""
    if block is None:
        return {"status": CommunicationStatus.QUEUED}
    return {"status": CommunicationStatus.BLOCKED, "reason": block.message}


class ChunkWriter(ABC):
    """Writes one chunk's messages, with what the channel looks up once for the whole chunk
    (made with the chunk's clients). The class says how large the channel's chunks are."""

    first_chunk: ClassVar[int]
    chunk_size: ClassVar[int]
    blocked_action: ClassVar[AuditAction]
    failed_action: ClassVar[AuditAction]

    def __init__(
        self, session: Session, campaign: Campaign, clients: Sequence[Client], settings: Settings
    ) -> None:
        self.session = session
        self.campaign = campaign
        self.settings = settings
        self.sender = Sender(campaign.created_by_user_id)

    @abstractmethod
    def write(self, client: Client) -> MessageRow | NotSent:
        """The client's message (`queued` or `blocked`), or why they cannot get one at all."""

    @abstractmethod
    def preview(self, client: Client) -> NotSent | BlockReason | None:
        """What `write` would do for the client, writing nothing: why they would get no message
        (NotSent), why the guard would block it (BlockReason), or None: it would be queued."""

    @abstractmethod
    def finish(self, queued: list[str]) -> None:
        """After the chunk's rows are written: their delivery jobs, sent after commit."""
