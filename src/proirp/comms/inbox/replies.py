"""The replies the product sends by itself to an inbound text: the safety reply to urgent
language, and the after-hours reply (at most once per number per 12 hours).

Each is an outbound SMS like any other (recorded, in the thread, delivered by the worker with
the same exactly-once discipline), sent to the number that wrote. Consent is not asked: the
client wrote to us and this is the answer. The opt-out list still refuses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.clients.identity import address_hash
from proirp.clients.models import Channel
from proirp.clients.repository import opted_out_addresses
from proirp.comms.core.guard import BlockReason
from proirp.comms.core.sending import write_message
from proirp.comms.inbox.models import AutoReplyMark
from proirp.comms.models import Communication, Purpose
from proirp.comms.sms.segments import segment_count
from proirp.kit.db import new_id
from proirp.worker.after_commit import enqueue_after_commit

AFTER_HOURS_EVERY = timedelta(hours=12)


def queue_reply(
    session: Session, inbound: Communication, body: str, purpose: Purpose
) -> Communication:
    """Queue `body` to the sender of `inbound`, audited with the system as actor."""
    to = inbound.from_address or ""
    comm = Communication(
        id=new_id(),
        client_id=inbound.client_id,
        user_id=None,
        channel="sms",
        purpose=purpose,
        to_address=to,
        body=body,
        segments=segment_count(body),
        provider="twilio",
    )
    block = None
    if to in opted_out_addresses(session, Channel.SMS, [to]):
        block = BlockReason("opted_out", "client_id", "The number opted out of SMS.")
    write_message(session, comm, block, source="system")
    if block is None:
        enqueue_after_commit(session, "comms.deliver_sms", comm.id)
    record_audit(
        session,
        actor=None,
        action=AuditAction.SMS_QUEUED if block is None else AuditAction.SMS_BLOCKED,
        client_id=inbound.client_id,
        details={"communication_id": comm.id, "purpose": purpose.value, "reply_to": inbound.id},
    )
    return comm


def claim_after_hours_turn(session: Session, address: str, now: datetime) -> bool:
    """Whether `address` may get the after-hours reply now (none in the last 12 hours), taking
    the turn if so: one statement, so two messages at once cannot both win."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = AutoReplyMark.__table__
    statement = (
        make(table)  # type: ignore[arg-type]
        .values(
            address_hash=address_hash(session, Channel.SMS, address),
            purpose=Purpose.AFTER_HOURS_REPLY.value,
            sent_at=now,
        )
        .on_conflict_do_update(
            index_elements=["address_hash", "purpose"],
            set_={"sent_at": now},
            where=table.c.sent_at <= now - AFTER_HOURS_EVERY,
        )
        .returning(table.c.address_hash)
    )
    return session.execute(statement).first() is not None
