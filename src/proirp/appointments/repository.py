"""The queries of appointments and reminders: set-based, so planning ten thousand appointments
is a handful of statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.appointments.models import Reminder, ReminderStatus
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.models import Client

Appointment = ClientCalendarEvent


@dataclass(frozen=True)
class Upcoming:
    """An appointment that should have reminders: the planner's view of it."""

    id: str
    client_id: str
    start_at: datetime
    timezone: str | None


def wants_reminders() -> ColumnElement[bool]:
    """Not cancelled, still on the calendar, still linked, reminders on, client not opted out."""
    return and_(
        Appointment.state != "cancelled",
        Appointment.gone_at.is_(None),
        Appointment.unlinked_at.is_(None),
        Appointment.reminders_enabled.is_(True),
        Appointment.start_at.is_not(None),
        Client.reminders_opt_out.is_(False),
        Client.deleted_at.is_(None),
    )


S = TypeVar("S", bound=Select)


def _only(stmt: S, ids: Sequence[str] | None) -> S:
    return stmt if ids is None else stmt.where(Appointment.id.in_(ids))


def upcoming(session: Session, now: datetime, ids: Sequence[str] | None) -> list[Upcoming]:
    stmt = (
        select(Appointment.id, Appointment.client_id, Appointment.start_at, Client.timezone)
        .join(Client, Client.id == Appointment.client_id)
        .where(wants_reminders(), Appointment.start_at > now)
    )
    return [
        Upcoming(id, client_id, start_at, timezone)
        for id, client_id, start_at, timezone in session.execute(_only(stmt, ids))
        if start_at is not None
    ]


@dataclass(frozen=True)
class Existing:
    id: str
    status: str
    start_at: datetime | None


def existing_reminders(
    session: Session, now: datetime, ids: Sequence[str] | None
) -> dict[tuple[str, str], Existing]:
    """The reminders of the appointments `upcoming()` returns, by (appointment, rule)."""
    stmt = (
        select(
            Reminder.appointment_id,
            Reminder.rule_id,
            Reminder.id,
            Reminder.status,
            Reminder.start_at,
        )
        .join(Appointment, Appointment.id == Reminder.appointment_id)
        .join(Client, Client.id == Appointment.client_id)
        .where(wants_reminders(), Appointment.start_at > now)
    )
    return {(a, r): Existing(i, s, st) for a, r, i, s, st in session.execute(_only(stmt, ids))}


# Why a pending reminder is no longer wanted, each with the appointments it applies to.
UNWANTED: tuple[tuple[str, ColumnElement[bool]], ...] = (
    ("The appointment was cancelled.", Appointment.state == "cancelled"),
    ("The event was removed from the calendar.", Appointment.gone_at.is_not(None)),
    ("The client was unlinked from the event.", Appointment.unlinked_at.is_not(None)),
    ("Reminders are turned off for this appointment.", Appointment.reminders_enabled.is_(False)),
)
CLIENT_UNWANTED = "The client opted out of reminders."
RULE_UNWANTED = "The reminder rule was turned off or removed."


def cancel_unwanted(
    session: Session, now: datetime, rule_ids: Sequence[str], ids: Sequence[str] | None
) -> int:
    """Cancel the pending reminders that are no longer wanted; returns how many."""
    cancelled = 0
    pending = Reminder.status == ReminderStatus.PENDING
    scope = [] if ids is None else [Reminder.appointment_id.in_(ids)]
    for reason, condition in UNWANTED:
        appointments = select(Appointment.id).where(condition)
        cancelled += _cancel(
            session, now, reason, pending, Reminder.appointment_id.in_(appointments), *scope
        )
    clients = select(Client.id).where(
        or_(Client.reminders_opt_out.is_(True), Client.deleted_at.is_not(None))
    )
    cancelled += _cancel(session, now, CLIENT_UNWANTED, pending, Reminder.client_id.in_(clients))
    off = not_(Reminder.rule_id.in_(rule_ids)) if rule_ids else Reminder.id.is_not(None)
    cancelled += _cancel(session, now, RULE_UNWANTED, pending, off, *scope)
    return cancelled


def _cancel(session: Session, now: datetime, reason: str, *where: ColumnElement[bool]) -> int:
    result = session.execute(
        update(Reminder)
        .where(*where)
        .values(status=ReminderStatus.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def insert_reminders(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add new reminders in one statement; a row another planner added meanwhile is kept."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(Reminder.__table__).on_conflict_do_nothing(  # type: ignore[arg-type]
        index_elements=["appointment_id", "rule_id"]
    )
    session.execute(statement, rows)


# The planner's UPDATE of a reminder it read: only while the row is still as it was read (same
# status, same start), so a reminder the sender claimed meanwhile (queued, or held, or back to
# pending with a new start) is left alone. PostgreSQL re-checks this WHERE after waiting for the
# sender's row lock.
_AS_READ = (
    update(Reminder.__table__)  # type: ignore[arg-type]
    .where(
        Reminder.id == bindparam("read_id"),
        Reminder.status == bindparam("read_status"),
        Reminder.start_at.is_not_distinct_from(bindparam("read_start_at")),
    )
    .values(
        status=bindparam("status"),
        due_at=bindparam("due_at"),
        reason=bindparam("reason"),
        start_at=bindparam("start_at"),
        updated_at=bindparam("updated_at"),
    )
)


def update_reminders(session: Session, rows: list[dict[str, Any]]) -> int:
    """Change reminders still as the planner read them, in one executemany; returns how many.

    Each row carries `read_id`, `read_status` and `read_start_at` (what was read) and the new
    `status`, `due_at`, `reason`, `start_at` and `updated_at`.
    """
    if not rows:
        return 0
    result = session.connection().execute(_AS_READ, rows)
    return int(result.rowcount or 0)
