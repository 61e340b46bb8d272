"""A client's appointments with their reminders (an audited read), and what staff may change
on one: reminders on or off, the state confirmed or scheduled."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder, ReminderRule
from proirp.appointments.repository import Appointment
from proirp.appointments.schemas import AppointmentOut, AppointmentPatch, ReminderOut
from proirp.audit.actions import AuditAction
from proirp.audit.service import RequestOrigin, record_audit
from proirp.clients.access import can_reach
from proirp.clients.repository import get_client
from proirp.kit.errors import Conflict, NotFound
from proirp.kit.time import utcnow
from proirp.worker.after_commit import enqueue_after_commit


def shown_state(appointment: Appointment) -> str:
    """The stored state, or `completed` for one that has ended and was not cancelled."""
    ended = appointment.end_at is not None and appointment.end_at <= utcnow()
    return "completed" if ended and appointment.state != "cancelled" else appointment.state


def to_out(session: Session, appointments: list[Appointment]) -> list[AppointmentOut]:
    ids = [a.id for a in appointments]
    reminders: dict[str, list[ReminderOut]] = defaultdict(list)
    if ids:
        stmt = (
            select(Reminder, ReminderRule.key)
            .join(ReminderRule, ReminderRule.id == Reminder.rule_id)
            .where(Reminder.appointment_id.in_(ids))
            .order_by(Reminder.due_at)
        )
        for reminder, key in session.execute(stmt):
            reminders[reminder.appointment_id].append(
                ReminderOut(
                    id=reminder.id,
                    rule=key,
                    channel=reminder.channel,
                    due_at=reminder.due_at,
                    status=reminder.status,
                    reason=reminder.reason,
                    communication_id=reminder.communication_id,
                )
            )
    return [
        AppointmentOut(
            id=a.id,
            event_id=a.synced_event_id,
            provider=a.provider,
            provider_event_id=a.provider_event_id,
            client_id=a.client_id,
            start=a.start_at,
            end=a.end_at,
            state=shown_state(a),
            reminders_enabled=bool(a.reminders_enabled),
            reminders=reminders[a.id],
        )
        for a in appointments
    ]


def _audit(
    session: Session,
    action: AuditAction,
    *,
    user_id: str,
    origin: RequestOrigin,
    client_id: str | None,
    **details: object,
) -> None:
    record_audit(
        session,
        actor=user_id,
        action=action,
        client_id=client_id,
        ip=origin.ip,
        user_agent=origin.user_agent,
        details=dict(details),
    )


def client_appointments(
    session: Session, client_id: str, *, user_id: str, origin: RequestOrigin
) -> list[AppointmentOut]:
    """Every appointment of the client still linked, soonest first (an audited read)."""
    if get_client(session, client_id) is None or not can_reach(
        session, user_id, client_id, origin=origin
    ):
        raise NotFound("no client with that id", code="not_found")
    stmt = (
        select(Appointment)
        .where(Appointment.client_id == client_id, Appointment.unlinked_at.is_(None))
        .order_by(Appointment.start_at)
    )
    appointments = list(session.scalars(stmt))
    _audit(
        session,
        AuditAction.APPOINTMENTS_VIEWED,
        user_id=user_id,
        origin=origin,
        client_id=client_id,
        count=len(appointments),
    )
    return to_out(session, appointments)


def change_appointment(
    session: Session,
    appointment_id: str,
    body: AppointmentPatch,
    *,
    user_id: str,
    origin: RequestOrigin,
) -> AppointmentOut:
    appointment = session.get(Appointment, appointment_id)
    if (
        appointment is None
        or appointment.unlinked_at is not None
        or not can_reach(session, user_id, appointment.client_id, origin=origin)
    ):
        raise NotFound("no appointment with that id", code="not_found")
    changed: list[str] = []
    if (
        body.reminders_enabled is not None
        and body.reminders_enabled != appointment.reminders_enabled
    ):
        appointment.reminders_enabled = body.reminders_enabled
        changed.append("reminders_enabled")
        enqueue_after_commit(session, "reminders.plan", [appointment.id])
    if body.state is not None and body.state != appointment.state:
        if appointment.state == "cancelled":
            raise Conflict(
                "a cancelled appointment keeps its state",
                code="appointment_cancelled",
                fields={"state": "the appointment was cancelled"},
            )
        appointment.state = body.state
        appointment.state_changed_at = utcnow()
        changed.append("state")
    session.flush()
    _audit(
        session,
        AuditAction.APPOINTMENT_CHANGED,
        user_id=user_id,
        origin=origin,
        client_id=appointment.client_id,
        appointment_id=appointment.id,
        changed=changed,
        state=appointment.state,
    )
    return to_out(session, [appointment])[0]


def user_appointments(
    session: Session,
    user_id: str,
    *,
    start: datetime,
    end: datetime,
    origin: RequestOrigin,
) -> list[AppointmentOut]:
    """The user's own appointments starting in [start, end), soonest first (an audited read:
    the clients' ids are recorded, as for any read of client records)."""
    stmt = (
        select(Appointment)
        .where(
            Appointment.user_id == user_id,
            Appointment.unlinked_at.is_(None),
            Appointment.start_at >= start,
            Appointment.start_at < end,
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    appointments = list(session.scalars(stmt))
    _audit(
        session,
        AuditAction.APPOINTMENTS_VIEWED,
        user_id=user_id,
        origin=origin,
        client_id=None,
        count=len(appointments),
        client_ids=sorted({a.client_id for a in appointments}),
    )
    return to_out(session, appointments)
