"""The sender's second look at a claimed reminder, in the same transaction as its send: the
appointment may have been cancelled or moved, the client may have opted out, the rule may be
off, or it may be quiet hours for the client now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from proirp.appointments.models import Reminder, ReminderStatus
from proirp.appointments.practice import PracticeSettings, Rule
from proirp.appointments.repository import CLIENT_UNWANTED, RULE_UNWANTED
from proirp.appointments.timing import after_quiet_hours, plan_due
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.models import Client

S = ReminderStatus
STARTED = "The appointment had already started."
QUIET_NOW = "Quiet hours for the client when it was due: it goes when they end."


@dataclass(frozen=True)
class Verdict:
    """Not to be sent now: settled with `status` and `reason`, or (pending) due again at
    `due_at`, counted as `outcome`."""

    status: S
    reason: str
    due_at: datetime | None = None
    outcome: str = "rescheduled"

    def apply(self, reminder: Reminder, now: datetime) -> str | None:
        """Put a reminder back to pending at its new due time (returns the outcome); None for
        a final verdict."""
        if self.status != S.PENDING:
            return None
        assert self.due_at is not None  # a reminder never goes back with the due time it had
        reminder.status = S.PENDING
        reminder.queued_at = None
        reminder.updated_at = now
        reminder.due_at = self.due_at
        reminder.reason = self.reason or None
        return self.outcome


def _unwanted(appointment: ClientCalendarEvent, client: Client, rule: Rule | None) -> str | None:
    if appointment.state == "cancelled":
        return "The appointment was cancelled."
    if appointment.gone_at is not None:
        return "The event was removed from the calendar."
    if appointment.unlinked_at is not None:
        return "The client was unlinked from the event."
    if not appointment.reminders_enabled:
        return "Reminders are turned off for this appointment."
    if client.reminders_opt_out or client.deleted_at is not None:
        return CLIENT_UNWANTED
    if rule is None or not rule.enabled:
        return RULE_UNWANTED
    return None


def recheck(
    reminder: Reminder,
    appointment: ClientCalendarEvent,
    client: Client,
    rule: Rule | None,
    zone: ZoneInfo,
    practice: PracticeSettings,
    now: datetime,
) -> Verdict | None:
    """Why `reminder` must not go now, or None when it may (its start updated if it moved)."""
    unwanted = _unwanted(appointment, client, rule)
    if unwanted:
        return Verdict(S.CANCELLED, unwanted)
    start = appointment.start_at
    if start is None or start <= now:
        return Verdict(S.SKIPPED, STARTED)
    assert rule is not None
    if start != reminder.start_at:  # moved since it was planned, and not planned again yet
        plan = plan_due(
            start, rule.offset, zone=zone, quiet=practice.quiet, now=now, grace=practice.grace
        )
        reminder.start_at = start
        if plan.due_at is None:
            return Verdict(S.SKIPPED, plan.reason or STARTED)
        if plan.due_at > now:
            return Verdict(S.PENDING, "", due_at=plan.due_at)
        reminder.due_at = plan.due_at
    if practice.quiet.is_quiet(now, zone):
        later = after_quiet_hours(start, zone=zone, quiet=practice.quiet, now=now)
        if later.due_at is None:
            return Verdict(S.SKIPPED, later.reason or STARTED)
        return Verdict(S.PENDING, QUIET_NOW, due_at=later.due_at, outcome="after_quiet_hours")
    return None
