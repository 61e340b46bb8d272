"""SMS in the one dispatch discipline (`core.dispatch`): one Twilio call per message, and the
reconciliation of a message whose send got no answer.

Twilio has no idempotency key, so a message left `sending` is looked up at Twilio (by its SID,
or by number, body and time) before it may be sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.comms.core import repository
from proirp.comms.core.dispatch import Call
from proirp.comms.core.guard import BlockReason, blocks_at_send
from proirp.comms.core.providers import status_callback_url
from proirp.comms.core.sending import audit_worker
from proirp.comms.core.status import add_event, advance
from proirp.comms.models import Communication, CommunicationStatus
from proirp.comms.sms.inbound import UNSUBSCRIBED_RECIPIENT, stopped_at_twilio
from proirp.comms.sms.status import map_twilio_status
from proirp.config import Settings
from proirp.integrations.base import (
    ProviderMessage,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.integrations.messaging import SmsSender
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    status_callback: str


class SmsChannel:
    """SMS's steps in dispatch: each message is its own Twilio call."""

    name = "sms"
    provider = "Twilio"
    sent_action = AuditAction.SMS_SENT
    failed_action = AuditAction.SMS_FAILED
    blocked_action = AuditAction.SMS_BLOCKED
    reads_each_text = True
    marks_call_start = False  # a stale SMS is looked up at Twilio before anything is resent

    def __init__(self, sender: SmsSender, settings: Settings) -> None:
        self.sender = sender
        self.settings = settings

    @property
    def pace_key(self) -> str:
        return self.sender.from_number

    def refusals(self, session: Session, comms: list[Communication]) -> dict[str, BlockReason]:
        return blocks_at_send(session, comms, has_baa=self.settings.twilio_hipaa_enabled)

    def refused_for_good(self, session: Session, comms: list[Communication], code: str) -> None:
        """21610: the number replied STOP to this sender (perhaps before the practice used the
        product, or to Twilio's own handling): recorded as the opt-out it is, so that no later
        message is tried and the client's record shows it."""
        if code == UNSUBSCRIBED_RECIPIENT:
            stopped_at_twilio(session, [comm.to_address for comm in comms])

    def calls(self, session: Session, comms: list[Communication]) -> list[Call]:
        return [
            Call(
                [comm.id],
                {comm.id: comm.attempts},
                SmsMessage(comm.to_address, comm.body, status_callback_url(self.settings, comm.id)),
            )
            for comm in comms
        ]

    def send(self, call: Call) -> str:
        message: SmsMessage = call.payload
        result = self.sender.send(message.to, message.body, status_callback=message.status_callback)
        return result.provider_message_id

    def narrowed(self, call: Call, ids: list[str]) -> Call:
        return call  # never asked: SMS calls are not marked, and each carries one message


def reconcile(factory: sessionmaker[Session], sender: SmsSender, comm_id: str) -> bool:
    """Settle a message left `sending`: find it at Twilio, or put it back in the queue.

    Returns True when the message must be (re)sent.
    """
    with transaction(factory) as session:
        comm = repository.get(session, comm_id)
        if comm is None or comm.status != S.SENDING:
            return False
        to, body, claimed_at = comm.to_address, comm.body, comm.claimed_at
        since = (claimed_at or comm.created_at) - timedelta(minutes=5)
        known_sid = comm.provider_message_id
    try:
        if known_sid:
            candidates = [sender.fetch(known_sid)]
        else:
            candidates = [m for m in sender.find_sent(to, since=since) if m.body == body]
    except (ProviderTemporaryError, ProviderPermanentError) as exc:
        log.warning("sms.reconcile_deferred", communication_id=comm_id, error_code=exc.code)
        return False
    with transaction(factory) as session:
        lock_shared_writes(session)  # before the row, as the worker and the callbacks take them
        comm = session.get(Communication, comm_id, with_for_update=True)
        # Only the claim we looked up: another reconciliation may have re-queued the row while we
        # asked Twilio, and a new claim may be sending it right now.
        if comm is None or comm.status != S.SENDING or comm.claimed_at != claimed_at:
            return False
        found = candidates if known_sid else _unclaimed(session, candidates)
        if found:
            _found_at_twilio(session, comm, found[0])
            log.info("sms.reconciled", communication_id=comm_id, found=True)
            return False
        comm.status = S.QUEUED
        comm.next_attempt_at = None
        comm.updated_at = utcnow()
        add_event(
            session, comm, S.QUEUED, source="reconcile", reason="not found at Twilio; resending"
        )
        audit_worker(session, comm, AuditAction.SMS_RECONCILED, found=False)
    log.info("sms.reconciled", communication_id=comm_id, found=False)
    return True


def _unclaimed(session: Session, candidates: list[ProviderMessage]) -> list[ProviderMessage]:
    """Twilio's messages that no other row of ours already is, oldest first."""
    taken = repository.provider_ids_in_use(
        session, "twilio", (m.provider_message_id for m in candidates)
    )
    found = [m for m in candidates if m.provider_message_id not in taken]
    found.sort(key=lambda m: m.created_at or utcnow())
    return found


def _found_at_twilio(session: Session, comm: Communication, match: ProviderMessage) -> None:
    comm.provider_message_id = match.provider_message_id
    status = map_twilio_status(match.status)
    advance(session, comm, S.SENT, source="reconcile", reason="found at Twilio")
    if status != S.SENT:
        advance(session, comm, status, source="reconcile", error_code=match.error_code)
    audit_worker(session, comm, AuditAction.SMS_RECONCILED, found=True)
