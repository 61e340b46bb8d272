"""Planning: for every upcoming appointment that wants reminders and every enabled rule, one
reminder row with its due time, reconciled from the appointment rows themselves each run (so a
moved appointment's pending reminders move, a cancelled one's are cancelled), in a few
set-based statements whatever the number of appointments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from proirp.appointments import repository
from proirp.appointments.models import ReminderStatus
from proirp.appointments.practice import PracticeSettings, Rule, planning_rules, practice_settings
from proirp.appointments.repository import Existing, Upcoming
from proirp.appointments.timing import client_zone, plan_due
from proirp.appointments.unsent import cancel_unsent
from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.config import Settings
from proirp.kit.db import new_id
from proirp.kit.time import utcnow

S = ReminderStatus
# What planning may change: a reminder not yet handed to comms nor held by a cap.
REPLANNABLE = frozenset({S.PENDING, S.SKIPPED})


@dataclass
class PlanCounts:
    added: int = 0
    replanned: int = 0
    cancelled: int = 0
    calls_back: int = 0  # queued messages of reminders no longer wanted, cancelled

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replanned or self.cancelled or self.calls_back)


def _needs_plan(row: Existing | None, appointment: Upcoming) -> bool:
    if row is None or row.status == S.CANCELLED:
        return True  # new, or wanted again (reminders back on, rule back on, ...)
    return row.status in REPLANNABLE and row.start_at != appointment.start_at


def _plan_values(
    appointment: Upcoming,
    rule: Rule,
    *,
    practice: PracticeSettings,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    zone = client_zone(appointment.timezone, settings.practice_timezone)
    plan = plan_due(
        appointment.start_at,
        rule.offset,
        zone=zone,
        quiet=practice.quiet,
        now=now,
        grace=practice.grace,
    )
    return {
        "status": S.PENDING if plan.due_at else S.SKIPPED,
        "due_at": plan.due_at or appointment.start_at - rule.offset,
        "reason": plan.reason,
        "start_at": appointment.start_at,
        "updated_at": now,
    }


def plan_reminders(
    session: Session, *, settings: Settings, appointment_ids: Sequence[str] | None = None
) -> PlanCounts:
    """Reconcile the reminders of every upcoming appointment (or of `appointment_ids`)."""
    now = utcnow()
    practice = practice_settings(session)
    rules = planning_rules(session)
    counts = PlanCounts()
    counts.cancelled = repository.cancel_unwanted(
        session, now, [rule.id for rule in rules if rule.id], appointment_ids
    )
    counts.calls_back = cancel_unsent(session, now)
    existing = repository.existing_reminders(session, now, appointment_ids)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for appointment in repository.upcoming(session, now, appointment_ids):
        for rule in rules:
            row = existing.get((appointment.id, str(rule.id)))
            if not _needs_plan(row, appointment):
                continue
            values = _plan_values(appointment, rule, practice=practice, settings=settings, now=now)
            if row is None:
                inserts.append(_new_row(appointment, rule, values, now))
            else:
                updates.append(
                    {
                        "read_id": row.id,
                        "read_status": row.status,
                        "read_start_at": row.start_at,
                        **values,
                    }
                )
    repository.insert_reminders(session, inserts)
    counts.added = len(inserts)
    counts.replanned = repository.update_reminders(session, updates)
    if counts.changed:
        record_audit(
            session,
            actor=None,
            action=AuditAction.REMINDERS_PLANNED,
            details={
                "added": counts.added,
                "replanned": counts.replanned,
                "cancelled": counts.cancelled,
                "messages_cancelled": counts.calls_back,
            },
        )
    session.flush()
    return counts


def _new_row(
    appointment: Upcoming, rule: Rule, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "appointment_id": appointment.id,
        "rule_id": rule.id,
        "client_id": appointment.client_id,
        "channel": rule.channel,
        "created_at": now,
        **values,
    }
