"""The practice's inbox settings as the inbox uses them: what is stored, or the defaults when
nothing is (office hours Monday to Friday 09:00 to 17:00 in the practice's time zone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from proirp.comms.inbox.models import InboxSettings
from proirp.config import Settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_OFFICE_HOURS: dict[str, dict[str, str]] = {
    day: {"start": "09:00", "end": "17:00"} for day in DAYS[:5]
}
DEFAULT_SAFETY_REPLY = (
    "If you are in danger or thinking about suicide, call or text 988, or call 911. "
    "Our staff will read your message."
)
DEFAULT_AFTER_HOURS_REPLY = (
    "Thank you for your message. Our office is closed now and staff will read it when we "
    "reopen. If you are in danger, call or text 988, or call 911."
)
DEFAULT_REALERT_MINUTES = 15
DEFAULT_REALERT_LIMIT = 8  # two hours of alerts, then the inbox alone shows it


@dataclass(frozen=True)
class InboxPractice:
    timezone: str
    office_hours: dict[str, dict[str, str]]
    safety_reply: str
    after_hours_reply: str
    urgent_phrases: list[str] = field(default_factory=list)
    on_call_email: str | None = None
    realert_minutes: int = DEFAULT_REALERT_MINUTES
    realert_limit: int = DEFAULT_REALERT_LIMIT

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls within the office hours (in the practice's time zone)."""
        local = at.astimezone(ZoneInfo(self.timezone))
        hours = self.office_hours.get(DAYS[local.weekday()])
        if not hours:
            return False
        return clock(hours["start"]) <= local.time() < clock(hours["end"])


def clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def defaults(settings: Settings) -> dict[str, Any]:
    return {
        "timezone": settings.practice_timezone or "UTC",
        "office_hours": DEFAULT_OFFICE_HOURS,
        "safety_reply": DEFAULT_SAFETY_REPLY,
        "after_hours_reply": DEFAULT_AFTER_HOURS_REPLY,
        "urgent_phrases": [],
        "on_call_email": settings.urgent_alert_email,
        "realert_minutes": DEFAULT_REALERT_MINUTES,
        "realert_limit": DEFAULT_REALERT_LIMIT,
    }


FIELDS = tuple(InboxPractice.__dataclass_fields__)


def inbox_practice(session: Session, settings: Settings) -> InboxPractice:
    row = session.get(InboxSettings, "practice")
    if row is None:
        return InboxPractice(**defaults(settings))
    return InboxPractice(**{name: getattr(row, name) for name in FIELDS})
