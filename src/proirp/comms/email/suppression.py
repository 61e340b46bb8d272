"""The email suppression list: addresses that bounced, were dropped, reported spam or
unsubscribed. Sends to them are `blocked` with the reason, including those already queued.

An address may be on the list for several causes at once, one row each: a resubscribe to an
unsubscribe group lifts the row that group's unsubscribe wrote, and the others stay.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.models import Channel, OptOut
from proirp.clients.repository import active_opt_out_of
from proirp.comms.core import repository
from proirp.comms.core.guard import suppression_key
from proirp.comms.core.status import advance
from proirp.comms.models import CommunicationStatus
from proirp.kit.time import utcnow

GROUP_UNSUBSCRIBE = "group_unsubscribe"


def _active(session: Session, key: str, cause: str, group: int | None) -> Select[OptOut]:
    return select(OptOut).where(
        *active_opt_out_of(session, Channel.EMAIL, key),
        OptOut.cause == cause,
        OptOut.unsubscribe_group.is_(None) if group is None else OptOut.unsubscribe_group == group,
    )


def suppress(
    session: Session,
    address: str,
    *,
    reason: str,
    source: str,
    client_id: str | None,
    origin: RequestOrigin,
    cause: str,
    group: int | None = None,
) -> bool:
    """Put `address` on the list for `cause` (once) and block queued email to it. True if new.

    `cause` names what happened (an event name, "one_click"); `group` is the unsubscribe group
    of a group unsubscribe. The address itself never goes in the audit details.
    """
    key = suppression_key(address)
    if session.scalar(_active(session, key, cause, group)) is not None:
        return False
    session.add(
        OptOut(
            client_id=client_id,
            channel=Channel.EMAIL,
            address=key,
            reason=reason,
            source=source,
            cause=cause,
            unsubscribe_group=group,
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
    details: dict[str, object] = {"cause": cause, "source": source, "queued_blocked": blocked}
    if group is not None:
        details["group"] = group
    record_audit(
        session,
        actor=None,
        action=AuditAction.EMAIL_SUPPRESSED,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=details,
    )
    return True


def resubscribe(
    session: Session,
    address: str,
    *,
    group: int | None,
    client_id: str | None,
    origin: RequestOrigin,
) -> int:
    """Lift what the recipient's unsubscribe from `group` put on the list; nothing else (a
    bounce, a spam report, a global or one-click unsubscribe, another group's). Returns how
    many rows were lifted; each lift is audited, without the address."""
    key = suppression_key(address)
    rows = list(session.scalars(_active(session, key, GROUP_UNSUBSCRIBE, group)))
    if not rows:
        return 0
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    record_audit(
        session,
        actor=None,
        action=AuditAction.EMAIL_RESUBSCRIBED,
        client_id=client_id or rows[0].client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details={"cause": "group_resubscribe", "group": group, "lifted": len(rows)},
    )
    return len(rows)
