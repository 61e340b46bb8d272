"""What a channel's campaign hook is: a writer for one chunk of recipients."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.clients.models import Client
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.sending import Sender
from proirp.comms.models import Campaign, Communication, CommunicationStatus
from proirp.config import Settings


@dataclass(frozen=True)
class NotSent:
    """Why a client gets no message of the campaign: `blocked` when there is nothing to send it
    to (no address, an invalid one, a value the record lacks), `failed` when the message could
    not be made (the template would not render for them)."""

    reason: str
    status: CommunicationStatus = CommunicationStatus.BLOCKED
    to: str = ""  # the address it would have gone to, when the client has a valid one


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
    def write(self, client: Client) -> Communication | NotSent:
        """The client's message (`queued` or `blocked`), or why they cannot get one at all."""

    @abstractmethod
    def preview(self, client: Client) -> NotSent | BlockReason | None:
        """What `write` would do for the client, writing nothing: why they would get no message
        (NotSent), why the guard would block it (BlockReason), or None: it would be queued."""

    def finish(self, queued: list[str]) -> None:
        """After the chunk's rows are written; by default each queued row has its own job."""
        return None
