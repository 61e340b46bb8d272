"""Email the product sends to staff by itself (an urgent-message alert, a note about a calendar
or a campaign): recorded and delivered like any other email, to an address rather than a
client. Its text must be free of PHI: it goes through SendGrid whatever its BAA."""

from __future__ import annotations

from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.comms.core.guard import BlockReason, suppressed_addresses, suppression_key
from proirp.comms.core.sending import write_message
from proirp.comms.email.service import PROVIDER, email_address
from proirp.comms.models import Communication, Purpose
from proirp.kit.db import new_id
from proirp.worker.after_commit import enqueue_after_commit


def send_staff_email(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    purpose: Purpose,
    user_id: str | None = None,
    **audit_details: object,
) -> Communication:
    """Queue one PHI-free email to a member of staff (`user_id`, when it is one) or to an
    address such as the on-call one, audited with the system as actor and `audit_details`."""
    address = email_address(to, "to")
    comm = Communication(
        id=new_id(),
        client_id=None,
        user_id=None,
        channel="email",
        purpose=purpose,
        to_address=address,
        subject=subject,
        body=text,
        provider=PROVIDER,
    )
    why = suppressed_addresses(session, [address]).get(suppression_key(address))
    block = (
        BlockReason("suppressed", "to", f"The address is on the email suppression list: {why}")
        if why is not None
        else None
    )
    write_message(session, comm, block, source="system")
    if block is None:
        enqueue_after_commit(session, "comms.deliver_email_batch", [comm.id])
    record_audit(
        session,
        actor=None,
        action=AuditAction.EMAIL_QUEUED if block is None else AuditAction.EMAIL_BLOCKED,
        details={
            "communication_id": comm.id,
            "purpose": purpose.value,
            "recipient_user_id": user_id,
            **audit_details,
        },
    )
    return comm
