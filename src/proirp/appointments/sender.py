"""Sending what is due: expire what is too late, claim the due reminders exactly once (one
conditional UPDATE: pending → queued), check each again against its appointment, the quiet
hours and the TCPA caps, and hand it to comms."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proirp.appointments.messages import ReminderSend, queue_reminder
from proirp.appointments.models import Reminder, ReminderStatus
from proirp.appointments.practice import (
    DAILY_CAP,
    WEEK,
    WEEKLY_CAP,
    PracticeSettings,
    Rule,
    current_rules,
    practice_settings,
)
from proirp.appointments.recheck import recheck
from proirp.appointments.timing import client_zone, when_word
from proirp.audit.actions import AuditAction
from proirp.audit.service import record_audit
from proirp.calendars.models import ClientCalendarEvent
from proirp.clients.models import Client
from proirp.comms.core.sending import MessageBlocked
from proirp.config import Settings
from proirp.kit.db import lock_shared_writes
from proirp.kit.errors import ValidationFailed
from proirp.kit.time import utcnow

S = ReminderStatus
BATCH = 200
REASON_WIDTH = 300  # reminders.reason


@dataclass
class SendCounts:
    expired: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def claimed(self) -> int:
        return sum(self.outcomes.values())


def expire_late(session: Session, now: datetime, practice: PracticeSettings) -> int:
    """Pending reminders more than the grace period past due (the product was down) expire."""
    reason = (
        f"Not sent within {practice.grace_minutes} minutes of its due time "
        "(the product was not running), so never sent."
    )
    result = session.execute(
        update(Reminder)
        .where(Reminder.status == S.PENDING, Reminder.due_at < now - practice.grace)
        .values(status=S.EXPIRED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    expired = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if expired:
        record_audit(
            session, actor=None, action=AuditAction.REMINDERS_EXPIRED, details={"count": expired}
        )
    return expired


def claim_due(session: Session, now: datetime, limit: int = BATCH) -> list[Reminder]:
    """Move up to `limit` due reminders pending → queued; only those this call moved return.

    The UPDATE re-reads each row's status, so two runs (or two workers on PostgreSQL, where the
    second waits on the first's row locks and then finds them queued) never take the same one.
    """
    due = (
        select(Reminder.id)
        .where(Reminder.status == S.PENDING, Reminder.due_at <= now)
        .order_by(Reminder.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if not ids:
        return []
    claimed = session.scalars(
        update(Reminder)
        .where(Reminder.id.in_(ids), Reminder.status == S.PENDING)
        .values(status=S.QUEUED, queued_at=now, updated_at=now)
        .returning(Reminder.id)
    ).all()
    if not claimed:
        return []
    rows = session.scalars(
        select(Reminder).where(Reminder.id.in_(claimed)).order_by(Reminder.due_at)
    ).all()
    for row in rows:
        session.refresh(row)  # the identity map may hold it as it was before the UPDATE
    return list(rows)


class Caps:
    """The SMS reminders each client of a batch already had, for the daily and weekly caps."""

    def __init__(self, session: Session, client_ids: set[str], now: datetime) -> None:
        self.now = now
        self.sent: dict[str, list[datetime]] = defaultdict(list)
        stmt = select(Reminder.client_id, Reminder.queued_at).where(
            Reminder.client_id.in_(client_ids),
            Reminder.channel == "sms",
            Reminder.status == S.QUEUED,
            Reminder.communication_id.is_not(None),
            Reminder.queued_at > now - WEEK,
        )
        for client_id, queued_at in session.execute(stmt):
            if queued_at is not None:
                self.sent[client_id].append(queued_at)

    def problem(self, client_id: str, zone: ZoneInfo) -> str | None:
        sent = self.sent[client_id]
        today = self.now.astimezone(zone).date()
        if sum(1 for at in sent if at.astimezone(zone).date() == today) >= DAILY_CAP:
            return f"Held back: the client already had {DAILY_CAP} reminder today (TCPA cap)."
        if len(sent) >= WEEKLY_CAP:
            return f"Held back: the client already had {WEEKLY_CAP} reminders in 7 days (TCPA cap)."
        return None

    def add(self, client_id: str) -> None:
        self.sent[client_id].append(self.now)


def _audit(session: Session, action: AuditAction, reminder: Reminder, **details: object) -> None:
    record_audit(
        session,
        actor=None,
        action=action,
        client_id=reminder.client_id,
        details={
            "reminder_id": reminder.id,
            "appointment_id": reminder.appointment_id,
            "rule_id": reminder.rule_id,
            **details,
        },
    )


@dataclass(frozen=True)
class Batch:
    now: datetime
    settings: Settings
    practice: PracticeSettings
    rules: dict[str, Rule]
    caps: Caps


def _settle(session: Session, reminder: Reminder, status: S, reason: str) -> str:
    reminder.status = status
    reminder.reason = reason[:REASON_WIDTH]
    if status in (S.SKIPPED, S.HELD):
        action = AuditAction.REMINDER_SKIPPED if status == S.SKIPPED else AuditAction.REMINDER_HELD
        _audit(session, action, reminder, reason=reason)
    return str(status)


def _send_one(session: Session, reminder: Reminder, batch: Batch) -> str:
    appointment = session.get(ClientCalendarEvent, reminder.appointment_id)
    client = session.get(Client, reminder.client_id)
    assert appointment is not None and client is not None  # foreign keys
    zone = client_zone(client.timezone, batch.settings.practice_timezone)
    rule = batch.rules.get(reminder.rule_id)
    verdict = recheck(reminder, appointment, client, rule, zone, batch.practice, batch.now)
    if verdict is not None:
        return verdict.apply(reminder, batch.now) or _settle(
            session, reminder, verdict.status, verdict.reason
        )
    assert rule is not None and appointment.start_at is not None
    if reminder.channel == "sms":
        held = batch.caps.problem(client.id, zone)
        if held:
            return _settle(session, reminder, S.HELD, held)
    send = ReminderSend(
        appointment,
        client,
        rule,
        batch.practice,
        zone,
        when_word(batch.now, appointment.start_at, zone),
    )
    try:
        comm = queue_reminder(session, send, batch.settings)
    except MessageBlocked as blocked:
        reminder.communication_id = blocked.communication.id
        return _settle(session, reminder, S.SKIPPED, blocked.reason.message)
    except ValidationFailed as problem:
        return _settle(session, reminder, S.SKIPPED, f"Could not be sent: {problem.message}.")
    reminder.communication_id = comm.id
    if reminder.channel == "sms":
        batch.caps.add(client.id)
    _audit(session, AuditAction.REMINDER_QUEUED, reminder, communication_id=comm.id)
    return "queued"


def send_due(session: Session, settings: Settings, *, limit: int = BATCH) -> SendCounts:
    """One batch in the caller's transaction: expire, claim, send. The caller commits (and the
    messages' delivery jobs go to the queue then)."""
    now = utcnow()
    lock_shared_writes(session)  # chain first, then rows: two senders never deadlock
    practice = practice_settings(session)
    counts = SendCounts(expired=expire_late(session, now, practice))
    claimed = claim_due(session, now, limit)
    if not claimed:
        return counts
    rules = {str(rule.id): rule for rule in current_rules(session) if rule.id}
    caps = Caps(session, {reminder.client_id for reminder in claimed}, now)
    batch = Batch(now, settings, practice, rules, caps)
    for reminder in claimed:
        counts.outcomes[_send_one(session, reminder, batch)] += 1
    session.flush()
    return counts
