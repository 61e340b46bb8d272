"""A client's answer to a reminder: C (CONFIRM, YES) confirms their next appointment; R
(RESCHEDULE, CANCEL) marks it needs_attention for the office (never cancelled at the provider).

YES and CANCEL are also Twilio's opt-in and opt-out words: comms acts on those first (YES opts
back in, CANCEL opts out, as Twilio itself does) and then offers them here, so YES also
confirms and CANCEL also asks the office to call; Twilio sends its own answer to those two, so
ours is sent only for C, CONFIRM, R and RESCHEDULE. A client with no upcoming appointment gets
nothing here: the text is treated as any other inbound message."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.appointments.practice import practice_settings
from proirp.appointments.repository import Appointment
from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.comms.sms.replies import InboundReply, register_reply_handler
from proirp.kit.time import utcnow

CONFIRM_WORDS = frozenset({"C", "CONFIRM", "YES"})
RESCHEDULE_WORDS = frozenset({"R", "RESCHEDULE", "CANCEL"})


def next_appointment(session: Session, client_ids: tuple[str, ...]) -> Appointment | None:
    """The clients' next appointment still on the calendar and not cancelled."""
    stmt = (
        select(Appointment)
        .where(
            Appointment.client_id.in_(client_ids),
            Appointment.start_at > utcnow(),
            Appointment.state != "cancelled",
            Appointment.gone_at.is_(None),
            Appointment.unlinked_at.is_(None),
        )
        .order_by(Appointment.start_at)
        .limit(1)
    )
    return session.scalars(stmt).first()


def handle_reply(session: Session, reply: InboundReply) -> str | None:
    """Act on C or R (and their synonyms); the acknowledgement, or None if not ours."""
    if reply.word in CONFIRM_WORDS:
        state, action = "confirmed", AuditAction.APPOINTMENT_CONFIRMED
    elif reply.word in RESCHEDULE_WORDS:
        state, action = "needs_attention", AuditAction.APPOINTMENT_NEEDS_ATTENTION
    else:
        return None
    appointment = next_appointment(session, reply.client_ids) if reply.client_ids else None
    if appointment is None:
        return None
    if appointment.state != state:
        appointment.state = state
        appointment.state_changed_at = utcnow()
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=appointment.client_id,
        ip=reply.origin.ip,
        user_agent=reply.origin.user_agent,
        details={"appointment_id": appointment.id, "via": "sms_reply", "keyword": reply.word},
    )
    session.flush()
    practice = practice_settings(session)
    return practice.confirmed_reply if state == "confirmed" else practice.reschedule_reply


register_reply_handler(handle_reply)
