"""An inbound SMS or MMS, from Twilio's webhook to the inbox.

It is stored once (Twilio retries a webhook with the same MessageSid), matched to the client
whose phone it came from (one client: theirs; several, such as a family sharing a phone, or
none: left for staff to attach), then acted on: STOP, START and HELP as before, a reminder's C
or R, urgent language (the safety reply and an alert), and the after-hours reply.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.service import RequestOrigin
from proirp.clients.models import Client
from proirp.comms.core.status import add_event
from proirp.comms.inbox.incidents import report_urgent
from proirp.comms.inbox.models import MessageMedia
from proirp.comms.inbox.practice import InboxPractice, inbox_practice
from proirp.comms.inbox.replies import claim_after_hours_turn, queue_reply
from proirp.comms.inbox.urgent import is_urgent
from proirp.comms.models import Communication, CommunicationStatus, Direction, Purpose
from proirp.comms.sms.inbound import InboundMedia, clients_with_phone, handle_inbound, help_text
from proirp.comms.sms.keywords import Keyword, keyword_of
from proirp.config import Settings
from proirp.kit.db import lock_shared_writes, new_id
from proirp.kit.time import utcnow
from proirp.worker.after_commit import enqueue_after_commit

log = structlog.get_logger(__name__)
PROVIDER = "twilio"


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    from_number: str
    to_number: str
    body: str
    segments: int | None = None
    media: tuple[InboundMedia, ...] = ()


def stored(session: Session, message_sid: str) -> Communication | None:
    stmt = select(Communication).where(
        Communication.direction == Direction.INBOUND,
        Communication.provider == PROVIDER,
        Communication.provider_message_id == message_sid,
    )
    return session.scalars(stmt).first()


def store(session: Session, message: InboundMessage, clients: list[Client]) -> Communication:
    now = utcnow()
    comm = Communication(
        id=new_id(),
        client_id=clients[0].id if len(clients) == 1 else None,
        user_id=None,
        direction=Direction.INBOUND,
        channel="sms",
        to_address=message.to_number,
        from_address=message.from_number,
        body=message.body,
        status=CommunicationStatus.RECEIVED,
        provider=PROVIDER,
        provider_message_id=message.message_sid,
        segments=message.segments,
        sent_at=now,
        delivered_at=now,
    )
    session.add(comm)
    # Before the rows that refer to it: with no relationship() between them, nothing else
    # orders their INSERTs.
    # (Counted in its conversation as it is flushed: comms/inbox/tallies.py.)
    session.flush()
    add_event(session, comm, CommunicationStatus.RECEIVED, source="webhook")
    for position, item in enumerate(message.media):
        session.add(
            MessageMedia(
                communication_id=comm.id,
                position=position,
                content_type=item.content_type,
                url=item.url,
                failed_reason=item.problem,
            )
        )
    return comm


def receive(
    session: Session, message: InboundMessage, *, settings: Settings, origin: RequestOrigin
) -> str | None:
    """Store and act on one inbound message; returns the answer for Twilio to send back (HELP,
    a reminder's C or R), if any. A retry of a message already stored changes nothing."""
    lock_shared_writes(session)  # before the rows, as every writer of both takes them
    if stored(session, message.message_sid) is not None:
        log.info("sms.inbound_duplicate")
        # Twilio retries when our answer did not reach it: HELP's answer (always the same) goes
        # again; anything that acted on the first delivery does not act twice.
        return help_text(settings) if keyword_of(message.body) is Keyword.HELP else None
    clients = clients_with_phone(session, message.from_number)
    comm = store(session, message, clients)
    answer = handle_inbound(
        session,
        from_number=message.from_number,
        body=message.body,
        settings=settings,
        origin=origin,
        communication_id=comm.id,
    )
    if keyword_of(message.body) is None:
        practice = inbox_practice(session, settings)
        if is_urgent(message.body, practice.urgent_phrases):
            report_urgent(session, comm, practice, settings)
        elif answer is None:
            _after_hours(session, comm, practice)
    if message.media:
        enqueue_after_commit(session, "inbox.fetch_media", comm.id)
    return answer


def _after_hours(session: Session, comm: Communication, practice: InboxPractice) -> None:
    now = utcnow()
    if practice.is_open(now) or not comm.from_address:
        return
    if claim_after_hours_turn(session, comm.from_address, now):
        queue_reply(session, comm, practice.after_hours_reply, Purpose.AFTER_HOURS_REPLY)
