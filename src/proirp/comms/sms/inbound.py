"""What an inbound SMS's keywords do: STOP opts out (and cancels pending messages), START opts
back in, HELP gets the practice's contact details; other texts are offered to the reply
handlers (a reminder's C or R). Everything is audited. The inbox (comms/inbox) stores the
message itself before this runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.identity import phone_hashes
from proirp.clients.models import Channel, Client, OptOut
from proirp.clients.repository import active_opt_outs, opted_out_addresses
from proirp.comms.core import repository
from proirp.comms.core.status import advance
from proirp.comms.models import Communication, CommunicationStatus
from proirp.comms.sms.keywords import Keyword, keyword_of
from proirp.comms.sms.replies import InboundReply, answer_reply
from proirp.comms.sms.status import MAX_SID
from proirp.config import Settings
from proirp.kit.input import RequestBody, StoredIn
from proirp.kit.time import utcnow

MAX_MEDIA = 10  # Twilio's limit per message
# A sender: an E.164 number has at most 16 characters; a short code or "whatsapp:+1..." fits.
MAX_ADDRESS = 32
MAX_BODY = 10_000  # Twilio's own limit is 1,600 characters


class InboundSms(RequestBody):
    """The fields of an inbound SMS or MMS the product reads (Twilio's others are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_sid: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SID)] = Field(
        alias="MessageSid"
    )
    from_number: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ADDRESS)] = Field(
        alias="From"
    )
    to_number: Annotated[str, StoredIn(Communication.to_address)] = Field(default="", alias="To")
    body: Annotated[str, StringConstraints(max_length=MAX_BODY)] = Field(default="", alias="Body")
    num_segments: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, alias="NumSegments"
    )
    num_media: Annotated[int, Field(ge=0, le=MAX_MEDIA)] = Field(default=0, alias="NumMedia")


class MediaField(RequestBody):
    """One of an MMS's media, as Twilio names it: MediaUrlN and MediaContentTypeN."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    content_type: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    ]


@dataclass(frozen=True)
class InboundMedia:
    """One of an MMS's media as the webhook gave it; `problem` when its fields did not fit
    (the message is kept all the same: it may be a client in crisis)."""

    url: str
    content_type: str
    problem: str | None = None


def media_fields(params: Mapping[str, str], count: int) -> list[InboundMedia]:
    """The `count` media of an inbound MMS (MediaUrlN and MediaContentTypeN)."""
    found = []
    for n in range(count):
        names = {"url": f"MediaUrl{n}", "content_type": f"MediaContentType{n}"}
        values = {key: params.get(name, "") for key, name in names.items()}
        try:
            media = MediaField.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            problem = f"Twilio's {names[str(first['loc'][0])]} did not fit: {first['msg']}"
            found.append(InboundMedia("", "unknown", problem[:300]))
        else:
            found.append(InboundMedia(media.url, media.content_type))
    return found


def clients_with_phone(session: Session, phone: str) -> list[Client]:
    """The clients with this phone, oldest first (a family can share one)."""
    stmt = (
        select(Client)
        .where(Client.phone_hash.in_(phone_hashes(session, [phone])), Client.deleted_at.is_(None))
        .order_by(Client.created_at, Client.id)
    )
    return list(session.scalars(stmt))


def _audit(
    session: Session,
    action: AuditAction,
    client_id: str | None,
    origin: RequestOrigin,
    **details: object,
) -> None:
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=dict(details),
    )


def opt_out(
    session: Session,
    phone: str,
    *,
    word: str,
    origin: RequestOrigin,
    source: str = "sms_keyword",
    reason: str | None = None,
) -> int:
    """Record the opt-out (a keyword the number sent, or `source` saying otherwise) and block
    every queued SMS to `phone`; returns how many were cancelled."""
    clients = clients_with_phone(session, phone)
    if not active_opt_outs(session, Channel.SMS, phone):
        session.add(
            OptOut(
                client_id=clients[0].id if clients else None,
                channel=Channel.SMS,
                address=phone,
                reason=reason or f"replied {word}",
                source=source,
            )
        )
    cancelled = 0
    for comm in repository.queued_sms_to(session, phone):
        advance(
            session,
            comm,
            CommunicationStatus.BLOCKED,
            source="webhook",
            reason="The client opted out of SMS (replied STOP).",
        )
        cancelled += 1
    for client in clients or [None]:  # type: ignore[list-item]
        _audit(
            session,
            AuditAction.SMS_OPT_OUT,
            client.id if client else None,
            origin,
            keyword=word,
            cancelled=cancelled,
        )
    return cancelled


UNSUBSCRIBED_RECIPIENT = "21610"  # Twilio's code for a number that opted out of this sender


def stopped_at_twilio(session: Session, numbers: Iterable[str]) -> None:
    """Twilio refused, or failed, messages to `numbers` with 21610: each replied STOP to this
    sender (perhaps before the practice used the product, or to Twilio's own handling). Each
    not yet opted out is, as if its STOP had come here, so that no later message is tried and
    the client's record shows it."""
    wanted = set(numbers)
    for number in sorted(wanted - opted_out_addresses(session, Channel.SMS, wanted)):
        opt_out(
            session,
            number,
            word="STOP",
            origin=RequestOrigin(),
            source="provider",
            reason="Twilio refused a message: the number replied STOP to this sender",
        )


def opt_in(session: Session, phone: str, *, word: str, origin: RequestOrigin) -> None:
    now = utcnow()
    for row in active_opt_outs(session, Channel.SMS, phone):
        row.revoked_at = now
    for client in clients_with_phone(session, phone) or [None]:  # type: ignore[list-item]
        _audit(session, AuditAction.SMS_OPT_IN, client.id if client else None, origin, keyword=word)


def help_text(settings: Settings) -> str:
    contact = f" Call {settings.practice_phone}." if settings.practice_phone else ""
    return (
        f"{settings.practice_name}: for help with these messages, contact the office.{contact}"
        " Reply STOP to opt out."
    )


def handle_inbound(
    session: Session,
    *,
    from_number: str,
    body: str,
    settings: Settings,
    origin: RequestOrigin,
    communication_id: str,
) -> str | None:
    """Act on one inbound SMS (stored as `communication_id`); returns the reply to send, if
    any."""
    keyword = keyword_of(body)
    word = body.strip().upper()
    clients = clients_with_phone(session, from_number)
    # Higher layers (a reminder's C or R) see every text but HELP; Twilio answers STOP and START
    # words itself, so their answer is not sent for those.
    reply = InboundReply(word, keyword, tuple(c.id for c in clients), origin)
    if keyword is Keyword.OPT_OUT:
        opt_out(session, from_number, word=word, origin=origin)
        answer_reply(session, reply)
        return None  # Twilio's Advanced Opt-Out sends the confirmation itself
    if keyword is Keyword.OPT_IN:
        opt_in(session, from_number, word=word, origin=origin)
        answer_reply(session, reply)
        return None
    # A number several clients share (a family) is nobody's in particular: the inbox leaves it
    # for staff to attach, and the audit row names no client.
    client_id = clients[0].id if len(clients) == 1 else None
    if keyword is Keyword.HELP:
        _audit(session, AuditAction.SMS_HELP, client_id, origin, communication_id=communication_id)
        return help_text(settings)
    _audit(session, AuditAction.SMS_RECEIVED, client_id, origin, communication_id=communication_id)
    return answer_reply(session, reply)
