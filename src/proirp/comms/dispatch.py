"""The worker's side of sending: claim a row, pace, call the provider, record the outcome.

Exactly once, or known: a row is claimed (`queued → sending`) and committed before the provider is
called. Temporary failures put it back to `queued` with a later `next_attempt_at`; permanent ones
end it as `failed`; an unanswered request leaves it `sending` for reconciliation, which looks the
message up at the provider before anything is sent again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.comms import repository
from proirp.comms.models import Communication, CommunicationStatus
from proirp.comms.pacing import SendPacer
from proirp.comms.providers import sms_sender, status_callback_url
from proirp.comms.status import add_event, advance, map_twilio_status
from proirp.config import Settings
from proirp.integrations.base import (
    ProviderAmbiguousError,
    ProviderPermanentError,
    ProviderTemporaryError,
)
from proirp.kit.db import transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Outcome:
    """What the caller (the task) should do next."""

    retry_in: float | None = None  # schedule another delivery attempt
    reconcile_in: float | None = None  # look the message up at the provider later


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # jitter, not security
    return max(delay, retry_after or 0.0)


def audit_worker(
    session: Session, comm: Communication, action: AuditAction, **details: object
) -> None:
    """An audit row for what the worker did to a message (no user acted)."""
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=comm.client_id,
        details={"communication_id": comm.id, **details},
    )


def deliver_sms(
    factory: sessionmaker[Session], settings: Settings, pacer: SendPacer, comm_id: str
) -> Outcome:
    now = utcnow()
    with transaction(factory) as session:
        if not repository.claim(session, comm_id, now=now):
            return Outcome()  # another worker has it, or it is not due, or it is finished
        comm = repository.get(session, comm_id)
        assert comm is not None
        to, body, attempts = comm.to_address, comm.body, comm.attempts
        add_event(session, comm, S.SENDING, source="worker")

    sender = sms_sender(settings)
    pacer.wait_for_slot(sender.from_number)
    try:
        result = sender.send(to, body, status_callback=status_callback_url(settings, comm_id))
    except ProviderTemporaryError as exc:
        return _temporary_failure(factory, settings, comm_id, attempts, exc)
    except ProviderPermanentError as exc:
        with transaction(factory) as session:
            comm = repository.get(session, comm_id)
            assert comm is not None
            advance(
                session, comm, S.FAILED, source="worker", reason=exc.reason, error_code=exc.code
            )
            audit_worker(session, comm, AuditAction.SMS_FAILED, error_code=exc.code)
        log.info("sms.send_failed", communication_id=comm_id, error_code=exc.code)
        return Outcome()
    except ProviderAmbiguousError:
        with transaction(factory) as session:
            comm = repository.get(session, comm_id)
            assert comm is not None
            add_event(session, comm, S.SENDING, source="worker", reason="no answer from Twilio")
        log.warning("sms.send_ambiguous", communication_id=comm_id)
        return Outcome(reconcile_in=float(settings.reconcile_after_seconds))

    with transaction(factory) as session:
        comm = repository.get(session, comm_id)
        assert comm is not None
        comm.provider_message_id = comm.provider_message_id or result.provider_message_id
        advance(session, comm, S.SENT, source="worker")
        audit_worker(
            session, comm, AuditAction.SMS_SENT, provider_message_id=result.provider_message_id
        )
    log.info("sms.sent", communication_id=comm_id, provider_sid=result.provider_message_id)
    return Outcome()


def retry_or_give_up(
    session: Session,
    settings: Settings,
    comm: Communication,
    attempts: int,
    exc: ProviderTemporaryError,
    *,
    failed_action: AuditAction,
) -> float | None:
    """After a temporary failure: back to `queued` for a later attempt (returns the delay), or
    `failed` once SEND_MAX_ATTEMPTS are spent (returns None)."""
    if attempts >= settings.send_max_attempts:
        reason = f"{exc.reason} Gave up after {attempts} attempts."
        advance(session, comm, S.FAILED, source="worker", reason=reason, error_code=exc.code)
        audit_worker(session, comm, failed_action, error_code=exc.code, attempts=attempts)
        return None
    delay = backoff_seconds(attempts, exc.retry_after)
    comm.status = S.QUEUED
    comm.next_attempt_at = utcnow() + timedelta(seconds=delay)
    comm.updated_at = utcnow()
    add_event(session, comm, S.QUEUED, source="worker", reason=exc.reason, error_code=exc.code)
    return delay


def _temporary_failure(
    factory: sessionmaker[Session],
    settings: Settings,
    comm_id: str,
    attempts: int,
    exc: ProviderTemporaryError,
) -> Outcome:
    with transaction(factory) as session:
        comm = repository.get(session, comm_id)
        assert comm is not None
        delay = retry_or_give_up(
            session, settings, comm, attempts, exc, failed_action=AuditAction.SMS_FAILED
        )
    if delay is None:
        log.info("sms.send_failed", communication_id=comm_id, error_code=exc.code)
        return Outcome()
    log.info("sms.send_retry", communication_id=comm_id, error_code=exc.code, delay=round(delay, 2))
    return Outcome(retry_in=delay)


def reconcile(factory: sessionmaker[Session], settings: Settings, comm_id: str) -> bool:
    """Settle a message left `sending`: find it at the provider, or put it back in the queue.

    Returns True when the message must be (re)sent.
    """
    sender = sms_sender(settings)
    with transaction(factory) as session:
        comm = repository.get(session, comm_id)
        if comm is None or comm.status != S.SENDING:
            return False
        to, body, claimed_at = comm.to_address, comm.body, comm.claimed_at
        since = (claimed_at or comm.created_at) - timedelta(minutes=5)
        known_sid = comm.provider_message_id

    try:
        if known_sid:
            found = [sender.fetch(known_sid)]
        else:
            candidates = [m for m in sender.find_sent(to, since=since) if m.body == body]
    except (ProviderTemporaryError, ProviderPermanentError) as exc:
        log.warning("sms.reconcile_deferred", communication_id=comm_id, error_code=exc.code)
        return False

    with transaction(factory) as session:
        comm = session.get(Communication, comm_id, with_for_update=True)
        # Only the claim we looked up: another reconciliation may have re-queued the row while we
        # asked Twilio, and a new claim may be sending it right now.
        if comm is None or comm.status != S.SENDING or comm.claimed_at != claimed_at:
            return False
        if not known_sid:
            taken = repository.provider_ids_in_use(
                session, "twilio", (m.provider_message_id for m in candidates)
            )
            found = [m for m in candidates if m.provider_message_id not in taken]
            found.sort(key=lambda m: m.created_at or utcnow())
        if found:
            match = found[0]
            comm.provider_message_id = match.provider_message_id
            status = map_twilio_status(match.status)
            advance(session, comm, S.SENT, source="reconcile", reason="found at Twilio")
            if status != S.SENT:
                advance(session, comm, status, source="reconcile", error_code=match.error_code)
            audit_worker(session, comm, AuditAction.SMS_RECONCILED, found=True)
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
