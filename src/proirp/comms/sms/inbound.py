"""What an inbound SMS does: STOP opts out (and cancels pending messages), START opts back in,
HELP gets the practice's contact details. Everything is audited; message text is not stored."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.models import Channel, Client, OptOut
from proirp.comms.core import repository
from proirp.comms.core.status import advance
from proirp.comms.models import CommunicationStatus
from proirp.comms.sms.keywords import Keyword, keyword_of
from proirp.comms.sms.replies import InboundReply, answer_reply
from proirp.config import Settings
from proirp.kit.input import RequestBody, StoredIn
from proirp.kit.time import utcnow


class InboundSms(RequestBody):
    """The fields of an inbound SMS the product reads: the sender (kept on the opt-out list) and
    the text (read for a keyword, never kept)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_number: Annotated[str, StoredIn(OptOut.address)] = Field(default="", alias="From")
    body: str = Field(default="", alias="Body")


def _clients_with_phone(session: Session, phone: str) -> list[Client]:
    stmt = select(Client).where(Client.phone == phone, Client.deleted_at.is_(None))
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


def opt_out(session: Session, phone: str, *, word: str, origin: RequestOrigin) -> int:
    """Record the opt-out and block every queued SMS to `phone`; returns how many were cancelled."""
    clients = _clients_with_phone(session, phone)
    active = session.scalar(
        select(OptOut).where(
            OptOut.channel == Channel.SMS, OptOut.address == phone, OptOut.revoked_at.is_(None)
        )
    )
    if active is None:
        session.add(
            OptOut(
                client_id=clients[0].id if clients else None,
                channel=Channel.SMS,
                address=phone,
                reason=f"replied {word}",
                source="sms_keyword",
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


def opt_in(session: Session, phone: str, *, word: str, origin: RequestOrigin) -> None:
    now = utcnow()
    for row in session.scalars(
        select(OptOut).where(
            OptOut.channel == Channel.SMS, OptOut.address == phone, OptOut.revoked_at.is_(None)
        )
    ):
        row.revoked_at = now
    for client in _clients_with_phone(session, phone) or [None]:  # type: ignore[list-item]
        _audit(session, AuditAction.SMS_OPT_IN, client.id if client else None, origin, keyword=word)


def help_text(settings: Settings) -> str:
    contact = f" Call {settings.practice_phone}." if settings.practice_phone else ""
    return (
        f"{settings.practice_name}: for help with these messages, contact the office.{contact}"
        " Reply STOP to opt out."
    )


def handle_inbound(
    session: Session, *, from_number: str, body: str, settings: Settings, origin: RequestOrigin
) -> str | None:
    """Act on one inbound SMS; returns the reply to send, if any."""
    keyword = keyword_of(body)
    word = body.strip().upper()
    clients = _clients_with_phone(session, from_number)
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
    client_id = clients[0].id if clients else None
    if keyword is Keyword.HELP:
        _audit(session, AuditAction.SMS_HELP, client_id, origin)
        return help_text(settings)
    _audit(session, AuditAction.SMS_RECEIVED, client_id, origin)
    return answer_reply(session, reply)
