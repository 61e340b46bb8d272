"""The email suppression list: addresses that bounced, were dropped, reported spam or
unsubscribed. Sends to them are `blocked` with the reason, including those already queued."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.models import Channel, OptOut
from proirp.comms.core import repository
from proirp.comms.core.guard import suppression_key
from proirp.comms.core.status import advance
from proirp.comms.models import CommunicationStatus


def suppress(
    session: Session,
    address: str,
    *,
    reason: str,
    source: str,
    client_id: str | None,
    origin: RequestOrigin,
    cause: str,
) -> bool:
    """Put `address` on the list (once) and block queued email to it. True if it is new.

    `cause` names what happened (an event name, "one_click") for the audit row; the address
    itself never goes in the audit details.
    """
    key = suppression_key(address)
    active = session.scalar(
        select(OptOut).where(
            OptOut.channel == Channel.EMAIL, OptOut.address == key, OptOut.revoked_at.is_(None)
        )
    )
    if active is not None:
        return False
    session.add(
        OptOut(
            client_id=client_id, channel=Channel.EMAIL, address=key, reason=reason, source=source
        )
    )
    blocked = 0
    for comm in repository.queued_email_to(session, key):
        advance(
            session,
            comm,
            CommunicationStatus.BLOCKED,
            source="webhook",
            reason=f"The address is on the email suppression list: {reason}",
        )
        blocked += 1
    record_audit(
        session,
        actor=None,
        action=AuditAction.EMAIL_SUPPRESSED,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"cause": cause, "source": source, "queued_blocked": blocked},
    )
    return True
