"""Asking Twilio for a status that never arrived.

Twilio tells us a message was delivered (or not) by a status callback. A callback can be lost:
our server was down or refused it under load, or the network failed. A message still `sent`
long after it went is looked up at Twilio (by its SID) and moved on as its callback would have
moved it, audited the same way. One Twilio still calls `sent` (some carriers never confirm) is
asked again later, and no more once it is days old.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from proirp.audit.service import RequestOrigin
from proirp.comms.core import repository
from proirp.comms.core.events import StatusEvent, apply_status_event
from proirp.comms.models import Communication, CommunicationStatus
from proirp.comms.sms.status import EVENT_ID_PREFIX, map_twilio_status, reason_for
from proirp.integrations.base import ProviderPermanentError, ProviderTemporaryError
from proirp.integrations.messaging import SmsSender
from proirp.kit.db import lock_shared_writes, transaction
from proirp.kit.time import utcnow

log = structlog.get_logger(__name__)
S = CommunicationStatus

# What a delivery callback would have told us; anything else at Twilio means: ask again later.
FINAL_AT_TWILIO = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED})
# A message `sent` with no word for this long is looked up at Twilio.
ASK_AFTER = timedelta(minutes=15)
# A message picked by a sweep waits this long for its job before a sweep picks it again.
ASK_LEASE = timedelta(minutes=5)
# One Twilio still calls `sent` is asked again after this long...
ASK_AGAIN_AFTER = timedelta(hours=1)
# ...until it is this old: then `sent` is all anyone will learn.
STOP_ASKING_AFTER = timedelta(hours=24)


def follow_up(factory: sessionmaker[Session], sender: SmsSender, comm_id: str) -> str | None:
    """Look up a message still `sent` at Twilio and apply what Twilio says. Returns the status
    Twilio gave, or None if nothing was asked (the message moved on meanwhile, or Twilio could
    not be asked: it will be asked again)."""
    with transaction(factory) as session:
        comm = repository.get(session, comm_id)
        if comm is None or comm.status != S.SENT or comm.provider_message_id is None:
            return None
        sid = comm.provider_message_id
    try:
        message = sender.fetch(sid)
    except (ProviderTemporaryError, ProviderPermanentError) as exc:
        # Asked again in an hour; an error of ours leaves the sweep's lease to expire instead.
        log.warning("sms.status_follow_up_deferred", communication_id=comm_id, error_code=exc.code)
        _ask_again_later(factory, comm_id)
        return None
    status = map_twilio_status(message.status)
    if status not in FINAL_AT_TWILIO:  # no further word at Twilio either
        _ask_again_later(factory, comm_id)
        return status
    with transaction(factory) as session:
        code = message.error_code
        event = StatusEvent(
            provider="twilio",
            status=status,
            # The id the callback itself would have had: a late callback is then a duplicate.
            event_id=f"{EVENT_ID_PREFIX}{sid}:{message.status}",
            provider_message_id=sid,
            message_id_is_unique=True,
            reason=reason_for(int(code)) if code and code.isdigit() else None,
            error_code=code,
            audit_details={"error_code": code, "asked_twilio": True},
        )
        apply_status_event(session, event, RequestOrigin())
    log.info("sms.status_followed_up", communication_id=comm_id, status=status)
    return status


def _ask_again_later(factory: sessionmaker[Session], comm_id: str) -> None:
    with transaction(factory) as session:
        lock_shared_writes(session)  # before the row, as everyone who changes messages takes them
        comm = session.get(Communication, comm_id, with_for_update=True)
        if comm is not None and comm.status == S.SENT:
            comm.next_attempt_at = utcnow() + ASK_AGAIN_AFTER
