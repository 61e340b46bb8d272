"""The practice's reminder rules and settings as the planner and sender use them: what is
stored, or the defaults when nothing is (24 h and 2 h before by SMS; email off)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proirp.appointments.models import ReminderRule, ReminderSettings
from proirp.appointments.timing import QuietHours

# TCPA's healthcare exemption: at most one message a day and three a week per client.
DAILY_CAP = 1
WEEKLY_CAP = 3
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Rule:
    id: str | None
    key: str
    offset_minutes: int
    channel: str
    template_id: str | None
    enabled: bool

    @property
    def offset(self) -> timedelta:
        return timedelta(minutes=self.offset_minutes)


DEFAULT_RULES = (
    Rule(None, "sms-1440m", 24 * 60, "sms", None, True),
    Rule(None, "sms-120m", 120, "sms", None, True),
    Rule(None, "email-1440m", 24 * 60, "email", None, False),
)

DEFAULT_SETTINGS: dict[str, str | int] = {
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
    "grace_minutes": 60,
    # PHI-free: no name, clinician, place or time of day. {when} is today, tomorrow or soon.
    "sms_wording": "You have an appointment {when}. Reply C to confirm or R to reschedule.",
    "email_subject": "Appointment reminder",
    "email_wording": (
        "You have an appointment {when}. Please contact the office if you need to reschedule."
    ),
    "confirmed_reply": "Thank you: your appointment is confirmed.",
    "reschedule_reply": "Thank you: the office will contact you to find a new time.",
}
SETTING_NAMES = tuple(DEFAULT_SETTINGS)


@dataclass(frozen=True)
class PracticeSettings:
    quiet_hours_start: str
    quiet_hours_end: str
    grace_minutes: int
    sms_wording: str
    email_subject: str
    email_wording: str
    confirmed_reply: str
    reschedule_reply: str

    @property
    def quiet(self) -> QuietHours:
        return QuietHours(_clock(self.quiet_hours_start), _clock(self.quiet_hours_end))

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def stored_rules(session: Session) -> list[ReminderRule]:
    """Every rule row, removed ones too, in the order they were made."""
    return list(session.scalars(select(ReminderRule).order_by(ReminderRule.created_at)))


def current_rules(session: Session) -> list[Rule]:
    """The rules in force (not removed), or the defaults when none were ever stored."""
    rows = stored_rules(session)
    if not rows:
        return list(DEFAULT_RULES)
    return [_rule(row) for row in rows if row.removed_at is None]


def _rule(row: ReminderRule) -> Rule:
    return Rule(
        row.id, row.key, row.offset_minutes, row.channel, row.template_id, bool(row.enabled)
    )


def _any_rule(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ReminderRule)))


def planning_rules(session: Session) -> list[Rule]:
    """The enabled rules, each with its id: the defaults are stored the first time they are
    needed, so reminders can refer to them. Two planners doing that at once store them once
    (ON CONFLICT DO NOTHING on the key) and both read back the same rows."""
    if not _any_rule(session):
        make = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        statement = make(ReminderRule.__table__).on_conflict_do_nothing(  # type: ignore[arg-type]
            index_elements=["key"]
        )
        rows = [
            {
                "key": default.key,
                "offset_minutes": default.offset_minutes,
                "channel": default.channel,
                "template_id": None,
                "enabled": default.enabled,
            }
            for default in DEFAULT_RULES
        ]
        session.execute(statement, rows)
    return [rule for rule in current_rules(session) if rule.enabled]


def practice_settings(session: Session) -> PracticeSettings:
    row = session.get(ReminderSettings, "practice")
    if row is None:
        return PracticeSettings(**DEFAULT_SETTINGS)  # type: ignore[arg-type]
    return PracticeSettings(**{name: getattr(row, name) for name in SETTING_NAMES})
